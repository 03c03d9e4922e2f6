// An independent TOTP implementation for the staff tests (the `otpauth` npm package), so that
// Lanyard's own TOTP code is never the only thing that makes codes in tests.
//
//   node totp.mjs code <base32-secret> <unix-ms>   → the 6-digit SHA-1 code at that time
//   node totp.mjs uri <otpauth-uri> <unix-ms>      → JSON: what the URI says, and its code then
import * as OTPAuth from "otpauth";

const [mode, input, at] = process.argv.slice(2);
const timestamp = Number(at);
if (!Number.isFinite(timestamp)) {
  console.error("usage: totp.mjs code|uri <secret|uri> <unix-ms>");
  process.exit(2);
}
if (mode === "code") {
  const totp = new OTPAuth.TOTP({
    secret: OTPAuth.Secret.fromBase32(input),
    algorithm: "SHA1",
    digits: 6,
    period: 30,
  });
  console.log(totp.generate({ timestamp }));
} else if (mode === "uri") {
  const otp = OTPAuth.URI.parse(input);
  console.log(
    JSON.stringify({
      type: otp instanceof OTPAuth.TOTP ? "totp" : "other",
      issuer: otp.issuer,
      label: otp.label,
      secret: otp.secret.base32,
      algorithm: otp.algorithm,
      digits: otp.digits,
      period: otp.period,
      code: otp.generate({ timestamp }),
    }),
  );
} else {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
