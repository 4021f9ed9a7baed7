/**
 * The little of age that holt uses, through the `age-encryption` package:
 * X25519 identities and recipients, and ASCII-armored files.
 *
 * The package is loaded on first use, so commands that never touch secrets
 * do not pay for it. Its error messages can quote the key or recipient they
 * choke on (bech32 checksum errors do), so nothing here passes them on:
 * callers get `null`/`false` or an `AgeError` with a fixed reason.
 */
type AgeModule = typeof import("age-encryption");

let loaded: Promise<AgeModule> | undefined;
function age(): Promise<AgeModule> {
  loaded ??= import("age-encryption");
  return loaded;
}

/** Why a decryption failed, without anything from the file or the key. */
export type DecryptFailure = "not-armored" | "no-matching-identity" | "corrupt";

export class AgeError extends Error {
  readonly reason: DecryptFailure;
  constructor(reason: DecryptFailure) {
    super(reason);
    this.name = "AgeError";
    this.reason = reason;
  }
}

export async function generateIdentity(): Promise<string> {
  return (await age()).generateX25519Identity();
}

/** The recipient (`age1…`) of an identity, or null when it is not a valid age identity. */
export async function recipientOf(identity: string): Promise<string | null> {
  const { identityToRecipient } = await age();
  if (!identity.startsWith("AGE-SECRET-KEY-")) return null;
  try {
    return await identityToRecipient(identity);
  } catch {
    return null;
  }
}

/** Whether `recipient` is a recipient this version of age can encrypt to. */
export async function isRecipient(recipient: string): Promise<boolean> {
  const { Encrypter } = await age();
  try {
    new Encrypter().addRecipient(recipient);
    return true;
  } catch {
    return false;
  }
}

export async function encryptArmored(
  plaintext: string,
  recipients: readonly string[],
): Promise<string> {
  const { Encrypter, armor } = await age();
  const encrypter = new Encrypter();
  for (const recipient of recipients) encrypter.addRecipient(recipient);
  return armor.encode(await encrypter.encrypt(plaintext));
}

/**
 * Decrypts an armored age file with the first of `identities` that fits,
 * and says which one it was.
 */
export async function decryptArmored(
  text: string,
  identities: readonly string[],
): Promise<{ plaintext: string; identity: string }> {
  const { Decrypter, armor } = await age();
  let binary: Uint8Array;
  try {
    binary = armor.decode(text);
  } catch {
    throw new AgeError("not-armored");
  }
  // One identity at a time (X25519 is cheap) to learn which one matched.
  for (const identity of identities) {
    const decrypter = new Decrypter();
    try {
      decrypter.addIdentity(identity);
      return { plaintext: await decrypter.decrypt(binary, "text"), identity };
    } catch (error) {
      const message = error instanceof Error ? error.message : "";
      if (!message.startsWith("no identity matched")) throw new AgeError("corrupt");
    }
  }
  throw new AgeError("no-matching-identity");
}
