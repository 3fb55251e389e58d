// The wire form (base64 DER) of the certificates above a leaf in an issued chain: the policy's issuing CA and the
// namespace root are the same for every device, so each is converted (and checked) once, not per registration.
import { certificateToWire } from "@skittlesorter/csr";

const wires = new Map<string, string>();
const MAX_ENTRIES = 64;

/** `certificateToWire(pem)`, remembered for the CA certificates every issued chain repeats. */
export function caCertificateWire(pem: string): string {
  let wire = wires.get(pem);
  if (wire === undefined) {
    wire = certificateToWire(pem);
    if (wires.size >= MAX_ENTRIES) wires.delete(wires.keys().next().value as string);
    wires.set(pem, wire);
  }
  return wire;
}
