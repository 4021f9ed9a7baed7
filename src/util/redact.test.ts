import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createRedactor, REDACTED } from "./redact.ts";

// Generated for this test only (openssl genpkey -algorithm ed25519 makes keys of this shape).
const PEM = [
  "-----BEGIN PRIVATE KEY-----",
  "MC4CAQAwBQYDK2VwBCIEIHq0rhD8Vd2m3v0Yc2QJt6p9L5sWm1xk0nE8Z3aR7bQe",
  "-----END PRIVATE KEY-----",
  "",
].join("\n");
const [, BODY] = PEM.split("\n");

/** Every way of cutting `text` into two chunks, and into chunks of every size from 1 to 7. */
function cuttings(text: string): string[][] {
  const out: string[][] = [];
  for (let at = 0; at <= text.length; at++) out.push([text.slice(0, at), text.slice(at)]);
  for (let size = 1; size <= 7; size++) {
    const chunks: string[] = [];
    for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
    out.push(chunks);
  }
  return out;
}

function streamed(values: readonly string[], chunks: readonly string[]): string {
  let out = "";
  const stream = createRedactor(values).stream((text) => {
    out += text;
  });
  for (const chunk of chunks) stream.write(chunk);
  stream.end();
  return out;
}

describe("createRedactor", () => {
  const cases: readonly {
    readonly name: string;
    readonly values: readonly string[];
    readonly log: string;
    readonly shown: string;
  }[] = [
    {
      name: "a value on one line, anywhere in a line",
      values: ["correct-horse-battery"],
      log: "db: password=correct-horse-battery;ok",
      shown: `db: password=${REDACTED};ok`,
    },
    {
      name: "a whole PEM key, as it was stored",
      values: [PEM],
      log: `key:\n${PEM}done`,
      shown: `key:\n${REDACTED}\n${REDACTED}\n${REDACTED}\ndone`,
    },
    {
      name: "only the body of the key, indented, with CRLF",
      values: [PEM],
      log: `loaded\r\n    ${BODY}\r\nstarting`,
      shown: `loaded\r\n    ${REDACTED}\r\nstarting`,
    },
    {
      name: "a short secret (4-7 characters) as a word of its own",
      values: ["hunter2"],
      log: "login root/hunter2 failed; hunter2s is not it; xhunter2 neither",
      shown: `login root/${REDACTED} failed; hunter2s is not it; xhunter2 neither`,
    },
    {
      name: "a 1-3 character secret: only as a whole line",
      values: ["a", "42"],
      log: "a\nstarted a server on port 42\n  42  \nbye",
      shown: `${REDACTED}\nstarted a server on port 42\n${REDACTED}\nbye`,
    },
    {
      name: "the longer of two overlapping values first",
      values: ["secret-value", "secret-value-2024"],
      log: "token secret-value-2024 and secret-value",
      shown: `token ${REDACTED} and ${REDACTED}`,
    },
    {
      name: "characters that mean something in a regular expression",
      values: ["p(a)ss.w*rd", "a+b?c"],
      log: "p(a)ss.w*rd and pXaXssXwXrd, a+b?c, abc",
      shown: `${REDACTED} and pXaXssXwXrd, ${REDACTED}, abc`,
    },
    {
      name: "no values: nothing changes",
      values: [],
      log: "anything at all\n",
      shown: "anything at all\n",
    },
  ];

  for (const c of cases) {
    test(c.name, () => {
      assert.equal(createRedactor(c.values).text(c.log), c.shown);
    });
    test(`${c.name}: the same through a stream, however the chunks fall`, () => {
      for (const chunks of cuttings(c.log)) {
        assert.equal(streamed(c.values, chunks), c.shown, JSON.stringify(chunks));
      }
    });
  }

  test("a stream passes whole lines on at once and holds only the partial one", () => {
    const seen: string[] = [];
    const stream = createRedactor(["correct-horse-battery"]).stream((t) => seen.push(t));
    stream.write("one\ntwo correct-horse");
    assert.deepEqual(seen, ["one\n"]);
    stream.write("-battery three\n");
    assert.deepEqual(seen, ["one\n", `two ${REDACTED} three\n`]);
    stream.write("no end");
    stream.end();
    assert.deepEqual(seen.at(-1), "no end");
  });

  test("a stream without values passes chunks on as they come", () => {
    const seen: string[] = [];
    const stream = createRedactor([]).stream((t) => seen.push(t));
    stream.write("part");
    assert.deepEqual(seen, ["part"]);
  });
});
