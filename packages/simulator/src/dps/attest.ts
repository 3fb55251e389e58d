import { X509Certificate } from "node:crypto";
import {
  AttestationError,
  deriveDeviceKey,
  dpsResourceUri,
  parseSasToken,
  verifySasToken,
} from "@skittlesorter/attestation";
import type { Clock } from "@skittlesorter/core";
import type { CaCertificate, Enrollment, EnrollmentGroup, IndividualEnrollment } from "../state/model.ts";
import type { Store } from "../state/store.ts";
import {
  certificateInfo,
  commonNameOf,
  hex,
  issuedBy,
  withinValidity,
  type X509CertificateInfo,
} from "../state/x509.ts";
import { DpsErrorCode, DpsFailure, INVALID_CERTIFICATE } from "./protocol.ts";

/** What a device presented on its connection. */
export interface Credentials {
  idScope: string;
  registrationId: string;
  /** The MQTT password: a SAS token, or empty/undefined with a TLS client certificate. */
  password: string | undefined;
  /** TLS client certificate chain as sent, DER, leaf first; empty without one. */
  peerChain: readonly Buffer[];
}

export interface Attested {
  enrollment: Enrollment;
  type: "symmetricKey" | "x509";
  /** Device keys (SAS attestation): what the hub device will accept. */
  deviceKeys?: { primaryKey: string; secondaryKey: string };
  /** The leaf (X.509 attestation). */
  certificateInfo?: X509CertificateInfo;
  /** The CA that signs the leaf in a group enrollment (X.509 attestation). */
  signingCertificateInfo?: X509CertificateInfo;
  leafThumbprints?: { sha1: string; sha256: string };
}

const unauthorized = (message: string, info?: Record<string, string>): DpsFailure =>
  new DpsFailure(401, DpsErrorCode.unauthorized, message, info === undefined ? {} : { info });

/** An X.509 attestation failure: the same 401002, worded as DPS words it. */
const invalidCertificate = (message: string, info?: Record<string, string>): DpsFailure =>
  new DpsFailure(401, DpsErrorCode.unauthorized, message, {
    azureMessage: INVALID_CERTIFICATE,
    ...(info === undefined ? {} : { info }),
  });

/**
 * Authenticates a device against the enrollments: SAS (individual or group-derived key) when a password is
 * present, else X.509 by its TLS client certificate. Throws a 401 {@link DpsFailure} saying what failed.
 */
export function attest(credentials: Credentials, store: Store, clock: Clock): Attested {
  if (credentials.password !== undefined && credentials.password !== "") {
    return attestSas(credentials, store, clock);
  }
  if (credentials.peerChain.length > 0) return attestX509(credentials, store, clock);
  throw unauthorized(
    "Unauthorized: the connection carries neither a SAS token (MQTT password) nor a TLS client certificate; " +
      "send the SAS token for {idScope}/registrations/{registrationId} as password, or connect with the device certificate.",
  );
}

function attestSas(credentials: Credentials, store: Store, clock: Clock): Attested {
  const token = credentials.password ?? "";
  try {
    parseSasToken(token);
  } catch (error) {
    throw unauthorized(`Unauthorized: ${(error as Error).message}`, { reason: "SAS_MALFORMED" });
  }
  const { registrationId } = credentials;
  const candidates: { enrollment: Enrollment; primaryKey: string; secondaryKey: string }[] = [];
  const individual = store.getEnrollment("individual", registrationId) as IndividualEnrollment | undefined;
  if (individual !== undefined) {
    if (individual.attestation.type !== "symmetricKey") {
      throw unauthorized(
        `Unauthorized: the individual enrollment "${registrationId}" uses X.509 attestation; connect with its certificate and an empty password.`,
      );
    }
    candidates.push({
      enrollment: individual,
      primaryKey: individual.attestation.primaryKey,
      secondaryKey: individual.attestation.secondaryKey,
    });
  } else {
    for (const group of store.listEnrollments("group") as EnrollmentGroup[]) {
      if (group.attestation.type !== "symmetricKey") continue;
      candidates.push({
        enrollment: group,
        primaryKey: deriveDeviceKey(group.attestation.primaryKey, registrationId),
        secondaryKey: deriveDeviceKey(group.attestation.secondaryKey, registrationId),
      });
    }
  }
  let expectedResourceUri: string;
  try {
    expectedResourceUri = dpsResourceUri(credentials.idScope, registrationId);
  } catch (error) {
    throw unauthorized(`Unauthorized: ${(error as Error).message}`);
  }
  for (const candidate of candidates) {
    for (const key of [candidate.primaryKey, candidate.secondaryKey]) {
      try {
        verifySasToken(token, key, { expectedResourceUri, keyName: "registration", clock });
        return {
          enrollment: candidate.enrollment,
          type: "symmetricKey",
          deviceKeys: { primaryKey: candidate.primaryKey, secondaryKey: candidate.secondaryKey },
        };
      } catch (error) {
        if (error instanceof AttestationError && error.code === "SAS_SIGNATURE_MISMATCH") continue;
        // The signature matched this key: the token itself is wrong (expired, other resource, skn).
        const code = error instanceof AttestationError ? error.code : "SAS_INVALID";
        throw unauthorized(`Unauthorized: ${(error as Error).message}`, { reason: code });
      }
    }
  }
  throw unauthorized(
    individual === undefined
      ? `Unauthorized: the SAS token of registration "${registrationId}" is signed with a key of no enrollment: ` +
          "no individual enrollment has this registration id, and the token does not match the key derived from " +
          "any symmetric-key enrollment group (device key = base64(HMAC-SHA256(group key, registration id))). " +
          "Check the group key and the registration id, or create an enrollment."
      : `Unauthorized: the SAS token of registration "${registrationId}" does not match the primary or secondary key of its individual enrollment.`,
    { reason: "SAS_SIGNATURE_MISMATCH" },
  );
}

function attestX509(credentials: Credentials, store: Store, clock: Clock): Attested {
  const { registrationId } = credentials;
  let chain: X509Certificate[];
  try {
    chain = credentials.peerChain.map((der) => new X509Certificate(der));
  } catch {
    throw invalidCertificate(
      "Unauthorized: the TLS client certificate cannot be parsed; present a valid X.509 certificate.",
    );
  }
  const [leaf] = chain;
  if (leaf === undefined) throw invalidCertificate("Unauthorized: no client certificate.");
  const now = clock.now();
  const cn = commonNameOf(leaf);
  if (cn === undefined || cn.toLowerCase() !== registrationId) {
    throw invalidCertificate(
      `Unauthorized: the client certificate's CN ${cn === undefined ? "is missing" : `"${cn}"`} but the registration id ` +
        `in the user name is "${registrationId}"; the certificate CN must be the registration id.`,
      { reason: "CN_MISMATCH" },
    );
  }
  if (!withinValidity(leaf, now)) {
    throw invalidCertificate(
      `Unauthorized: the client certificate "${cn}" is not valid now (valid ${leaf.validFrom} to ${leaf.validTo}); ` +
        "issue a new device certificate.",
      { reason: "CERTIFICATE_EXPIRED" },
    );
  }
  const leafInfo = certificateInfo(leaf);
  const thumbprints = { sha1: leafInfo.sha1Thumbprint, sha256: leafInfo.sha256Thumbprint };

  const individual = store.getEnrollment("individual", registrationId) as IndividualEnrollment | undefined;
  if (individual !== undefined) return attestIndividualX509(individual, leafInfo);

  const signed = signingCertificateGroup(chain, store);
  if (signed !== undefined) {
    return { ...signed, type: "x509", certificateInfo: leafInfo, leafThumbprints: thumbprints };
  }
  const reached = uploadedCasReached(chain, store);
  if (reached.length === 0) {
    throw invalidCertificate(
      `Unauthorized: the certificate chain of "${registrationId}" (issuer "${leafInfo.issuerName}") reaches no uploaded CA ` +
        "certificate; upload the signing CA (skittle-sim ca upload), verify it, and present the full chain (leaf + intermediates).",
      { reason: "CA_NOT_FOUND" },
    );
  }
  for (const { record, certificate } of reached) {
    if (!record.isVerified) {
      throw invalidCertificate(
        `Unauthorized: CA certificate "${record.name}" in the chain of "${registrationId}" is not verified; complete ` +
          `proof of possession (skittle-sim ca verification-code ${record.name}, then ca verify).`,
        { reason: "CA_NOT_VERIFIED", certificateName: record.name },
      );
    }
    if (!withinValidity(certificate, now)) {
      throw invalidCertificate(
        `Unauthorized: CA certificate "${record.name}" in the chain is expired or not yet valid.`,
        {
          reason: "CA_EXPIRED",
          certificateName: record.name,
        },
      );
    }
  }
  const groups = (store.listEnrollments("group") as EnrollmentGroup[]).filter(
    (group) => group.attestation.type === "x509",
  );
  for (const { record, certificate } of reached) {
    const group = groups.find(
      (candidate) =>
        candidate.attestation.type === "x509" &&
        (candidate.attestation.caName === record.name ||
          candidate.attestation.secondaryCaName === record.name),
    );
    if (group !== undefined) {
      return {
        enrollment: group,
        type: "x509",
        certificateInfo: leafInfo,
        signingCertificateInfo: certificateInfo(certificate),
        leafThumbprints: thumbprints,
      };
    }
  }
  throw invalidCertificate(
    `Unauthorized: no X.509 enrollment group references a CA in the chain of "${registrationId}" ` +
      `(${reached.map((item) => `"${item.record.name}"`).join(", ")}); create one with --ca <name>.`,
    { reason: "ENROLLMENT_NOT_FOUND" },
  );
}

/**
 * The X.509 group whose own signing certificate (given with the group, not uploaded) is in the presented chain or
 * issued its top: DPS trusts those without proof of possession.
 */
function signingCertificateGroup(
  chain: readonly X509Certificate[],
  store: Store,
): Pick<Attested, "enrollment" | "signingCertificateInfo"> | undefined {
  const groups = (store.listEnrollments("group") as EnrollmentGroup[]).filter(
    (group) => group.attestation.type === "x509" && group.attestation.signingCertificates !== undefined,
  );
  const top = chain[chain.length - 1];
  for (const group of groups) {
    if (group.attestation.type !== "x509") continue;
    for (const pem of group.attestation.signingCertificates ?? []) {
      const signing = new X509Certificate(pem);
      const inChain = chain
        .slice(1)
        .some((certificate) => certificate.fingerprint256 === signing.fingerprint256);
      if (inChain || (top !== undefined && issuedBy(top, signing))) {
        return { enrollment: group, signingCertificateInfo: certificateInfo(signing) };
      }
    }
  }
  return undefined;
}

/**
 * The uploaded CA certificates a presented chain reaches: those in the chain (leaf first, as far as each
 * certificate issued the one before), then up through uploaded CAs that issued the top of it.
 */
function uploadedCasReached(
  chain: readonly X509Certificate[],
  store: Store,
): { record: CaCertificate; certificate: X509Certificate }[] {
  const [leaf] = chain;
  if (leaf === undefined) return [];
  const path: X509Certificate[] = [leaf];
  for (let index = 1; index < chain.length; index++) {
    const next = chain[index];
    const last = path[path.length - 1];
    if (next === undefined || last === undefined || !issuedBy(last, next)) break;
    path.push(next);
  }
  const uploaded = store
    .listCaCertificates()
    .map((record) => ({ record, certificate: new X509Certificate(record.certificatePem) }));
  const reached: { record: CaCertificate; certificate: X509Certificate }[] = [];
  const seen = new Set<string>();
  for (let index = 1; index < path.length; index++) {
    const certificate = path[index];
    if (certificate === undefined) continue;
    const sha256 = hex(certificate.fingerprint256);
    for (const match of uploaded.filter((item) => item.record.sha256Thumbprint === sha256)) {
      reached.push(match);
      seen.add(match.record.name);
    }
  }
  let top = path[path.length - 1];
  while (top !== undefined && top.issuer !== top.subject) {
    const current: X509Certificate = top;
    const parent = uploaded.find(
      (item) => !seen.has(item.record.name) && issuedBy(current, item.certificate),
    );
    if (parent === undefined) break;
    reached.push(parent);
    seen.add(parent.record.name);
    top = parent.certificate;
  }
  return reached;
}

/** An individual X.509 enrollment: the presented leaf must be the enrolled certificate (by thumbprint). */
function attestIndividualX509(individual: IndividualEnrollment, leafInfo: X509CertificateInfo): Attested {
  const registrationId = individual.id;
  const thumbprints = { sha1: leafInfo.sha1Thumbprint, sha256: leafInfo.sha256Thumbprint };
  if (individual.attestation.type !== "x509") {
    throw invalidCertificate(
      `Unauthorized: the individual enrollment "${registrationId}" uses symmetric-key attestation; send a SAS token as password.`,
    );
  }
  const allowed = [individual.attestation.primaryThumbprint, individual.attestation.secondaryThumbprint];
  if (!allowed.some((value) => value === thumbprints.sha1 || value === thumbprints.sha256)) {
    throw invalidCertificate(
      `Unauthorized: the client certificate (SHA-256 ${thumbprints.sha256}) is not the one of the individual ` +
        `enrollment "${registrationId}"; connect with the enrolled certificate or update the enrollment's thumbprint.`,
      { reason: "THUMBPRINT_MISMATCH" },
    );
  }
  return { enrollment: individual, type: "x509", certificateInfo: leafInfo, leafThumbprints: thumbprints };
}
