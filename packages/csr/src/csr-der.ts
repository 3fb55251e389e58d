// Its own module because its declaration names an @peculiar/x509 type: no module that index.ts re-exports may do so,
// or consumers type-checking with node16 resolution and skipLibCheck off inherit @peculiar's own type errors
// (public-types.test.ts checks this).
import type { Pkcs10CertificateRequest } from "@peculiar/x509";
import { CsrError, describeError } from "./errors.ts";
import { x509 } from "./libs.ts";

/** Parses a CSR's DER with @peculiar/x509; throws `CSR_INVALID` with a clear message when it is not one. */
export function parseCsrDer(der: Uint8Array): Pkcs10CertificateRequest {
  const lib = x509();
  try {
    const request = new lib.Pkcs10CertificateRequest(new Uint8Array(der));
    // Decode the fields we rely on, so malformed inner structures fail here rather than later.
    request.subjectName.toJSON();
    if (request.publicKey.rawData.byteLength === 0) throw new Error("empty subject public key");
    return request;
  } catch (error) {
    throw new CsrError(
      "CSR_INVALID",
      `The data is not a valid PKCS#10 certificate signing request (${describeError(error)}): check it was not truncated or mixed up with a certificate.`,
      { cause: error },
    );
  }
}
