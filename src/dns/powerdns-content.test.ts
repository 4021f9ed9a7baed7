/** TXT content as PowerDNS writes it: quoting, escapes, 255-byte strings, and the way back. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fromContent, quoteTxt, toContent, unquoteTxt } from "./powerdns-content.ts";

test("TXT values are quoted with escapes and split every 255 bytes", () => {
  assert.equal(quoteTxt('say "hi" \\ bye'), '"say \\"hi\\" \\\\ bye"');
  assert.equal(quoteTxt("é"), '"\\195\\169"');
  assert.equal(quoteTxt("tab\there"), '"tab\\009here"');
  assert.equal(quoteTxt(""), '""');
  const long = quoteTxt("a".repeat(300));
  assert.equal(long, `"${"a".repeat(255)}" "${"a".repeat(45)}"`);
});

test("TXT content reads back to the value, whatever quoting PowerDNS or a person used", () => {
  for (const value of [
    'say "hi" \\ bye',
    "é and ü",
    "a".repeat(600),
    "",
    "v=spf1 -all",
    "tab\there",
  ]) {
    assert.equal(unquoteTxt(quoteTxt(value)), value, value);
  }
  assert.equal(unquoteTxt('"part one" "part two"'), "part onepart two");
  assert.equal(unquoteTxt("bare words"), "barewords");
  assert.equal(unquoteTxt('"\\065\\"x"'), 'A"x');
  // UTF-8 split across two strings joins back into one character.
  assert.equal(unquoteTxt('"\\195" "\\169"'), "é");
});

test("CNAME content is absolute with a trailing dot; A and AAAA pass through", () => {
  assert.equal(toContent("CNAME", "web.lab.test"), "web.lab.test.");
  assert.equal(fromContent("CNAME", "Web.Lab.Test."), "web.lab.test");
  assert.equal(toContent("A", "10.0.0.1"), "10.0.0.1");
  assert.equal(fromContent("AAAA", "2001:db8::1"), "2001:db8::1");
});
