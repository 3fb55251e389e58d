// IoT Hub device authentication at CONNECT: the user name, a SAS token or an X.509 client certificate chain.
import { X509Certificate } from "node:crypto";
import { parseSasToken, verifySasToken } from "@skittlesorter/attestation";
import type { Clock } from "@skittlesorter/core";
import type { AdrService } from "../adr/service.ts";
import type { HubDevice } from "../state/model.ts";
import type { Store } from "../state/store.ts";
import { commonNameOf, hex, issuedBy, withinValidity } from "../state/x509.ts";
import type { HubModule } from "./modules.ts";

/** How a device authenticated to the hub. */
export type HubAuthMethod = "sas" | "x509CA" | "x509SelfSigned";

/** What a device presented at CONNECT. */
export interface HubCredentials {
  clientId: string;
  username: string | undefined;
  password: string | undefined;
  /** TLS client certificate chain as sent, DER, leaf first. */
  peerChain: readonly Buffer[];
}

export interface HubSession {
  deviceId: string;
  /** Set when a module identity connected (client id `{deviceId}/{moduleId}`). */
  moduleId?: string;
  hub: string;
  authMethod: HubAuthMethod;
  apiVersion: string | undefined;
  /** notAfter of the client certificate (X.509). */
  certificateNotAfter?: string;
}

/** CONNACK return codes the hub answers: 2 identifier rejected, 4 bad user name, 5 not authorized. */
export class HubRefusal extends Error {
  readonly returnCode: 2 | 4 | 5;
  readonly reason: string;

  constructor(returnCode: 2 | 4 | 5, reason: string, message: string) {
    super(message);
    this.name = "HubRefusal";
    this.returnCode = returnCode;
    this.reason = reason;
  }
}

/** The identity a CONNECT claims: a device, or a module of one. */
interface Identity {
  /** For messages: `device "d1"` or `module "d1/m1"`. */
  name: string;
  /** The SAS resource below the host name: `/devices/d1` or `/devices/d1/modules/m1`. */
  resource: string;
  /** The CN a CA-signed certificate must carry. */
  commonName: string;
  authentication: HubDevice["authentication"];
}

/** Decides whether a CONNECT may become a device (or module) session. */
export class HubAuthenticator {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #adr: AdrService;
  readonly #device: (deviceId: string) => HubDevice | undefined;
  readonly #module: (deviceId: string, moduleId: string) => HubModule | undefined;

  constructor(options: {
    store: Store;
    clock: Clock;
    adr: AdrService;
    device: (deviceId: string) => HubDevice | undefined;
    module: (deviceId: string, moduleId: string) => HubModule | undefined;
  }) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#adr = options.adr;
    this.#device = options.device;
    this.#module = options.module;
  }

  /** Checks a CONNECT; throws {@link HubRefusal} with the CONNACK code and a reason. */
  authenticate(credentials: HubCredentials): HubSession {
    const parsed = parseHubUsername(credentials.username);
    if (parsed === undefined) {
      throw new HubRefusal(
        4,
        "BAD_USERNAME",
        `user name ${JSON.stringify(credentials.username ?? null)} is not {hostname}/{deviceId}/?api-version=2021-04-12`,
      );
    }
    const { deviceId, moduleId } = parsed;
    const expectedClientId = moduleId === undefined ? deviceId : `${deviceId}/${moduleId}`;
    if (credentials.clientId !== expectedClientId) {
      throw new HubRefusal(
        2,
        "CLIENT_ID_MISMATCH",
        `client id "${credentials.clientId}" differs from "${expectedClientId}" of the user name`,
      );
    }
    const device = this.#device(deviceId);
    if (device === undefined) {
      throw new HubRefusal(
        5,
        "DEVICE_NOT_FOUND",
        `device "${deviceId}" is not in the hub's registry; provision it through DPS first`,
      );
    }
    if (device.status !== "enabled" || !this.#adr.isEnabled(deviceId)) {
      throw new HubRefusal(5, "DEVICE_DISABLED", `device "${deviceId}" is disabled`);
    }
    const identity = moduleId === undefined ? identityOf(device) : this.#moduleIdentity(deviceId, moduleId);
    const session: HubSession = {
      deviceId,
      ...(moduleId === undefined ? {} : { moduleId }),
      hub: device.hub,
      authMethod: "sas",
      apiVersion: parsed.apiVersion,
    };
    if (credentials.password !== undefined && credentials.password !== "") {
      this.#checkSas(identity, credentials.password);
      return session;
    }
    if (credentials.peerChain.length === 0) {
      throw new HubRefusal(
        5,
        "NO_CREDENTIALS",
        "neither a SAS token (MQTT password) nor a TLS client certificate was presented",
      );
    }
    const checked = this.#checkCertificate(identity, credentials.peerChain);
    session.authMethod = checked.method;
    session.certificateNotAfter = checked.notAfter;
    return session;
  }

  #moduleIdentity(deviceId: string, moduleId: string): Identity {
    const module = this.#module(deviceId, moduleId);
    if (module === undefined) {
      throw new HubRefusal(
        5,
        "MODULE_NOT_FOUND",
        `module "${moduleId}" of device "${deviceId}" is not in the hub's registry; create it first (PUT /devices/${deviceId}/modules/${moduleId})`,
      );
    }
    const name = `${deviceId}/${moduleId}`;
    return {
      name: `module "${name}"`,
      resource: `/devices/${deviceId}/modules/${moduleId}`,
      commonName: name,
      authentication: module.authentication,
    };
  }

  #checkSas(identity: Identity, token: string): void {
    const { authentication } = identity;
    if (authentication.type !== "sas") {
      throw new HubRefusal(
        5,
        "SAS_NOT_ALLOWED",
        `${identity.name} authenticates with X.509 (${authentication.type}); connect with its certificate and no password`,
      );
    }
    let parsed: ReturnType<typeof parseSasToken>;
    try {
      parsed = parseSasToken(token);
    } catch {
      throw new HubRefusal(5, "SAS_MALFORMED", "the SAS token is malformed");
    }
    if (!parsed.resourceUri.toLowerCase().endsWith(identity.resource.toLowerCase())) {
      throw new HubRefusal(
        5,
        "SAS_RESOURCE_MISMATCH",
        `the SAS token is for "${parsed.resourceUri}", not {hostname}${identity.resource}`,
      );
    }
    if (parsed.keyName !== undefined) {
      throw new HubRefusal(
        5,
        "SAS_KEY_NAME",
        `the SAS token names a shared access policy (skn=${parsed.keyName}); devices sign with their own key and no skn`,
      );
    }
    const keys = [authentication.primaryKey, authentication.secondaryKey].filter((key) => key !== "");
    for (const key of keys) {
      try {
        verifySasToken(token, key, { clock: this.#clock });
        return;
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (code === "SAS_SIGNATURE_MISMATCH") continue;
        throw new HubRefusal(5, String(code ?? "SAS_INVALID"), (error as Error).message);
      }
    }
    throw new HubRefusal(
      5,
      "SAS_SIGNATURE_MISMATCH",
      `the SAS signature matches neither key of ${identity.name}`,
    );
  }

  #checkCertificate(
    identity: Identity,
    peerChain: readonly Buffer[],
  ): { method: HubAuthMethod; notAfter: string } {
    let chain: X509Certificate[];
    try {
      chain = peerChain.map((der) => new X509Certificate(der));
    } catch {
      throw new HubRefusal(5, "CERTIFICATE_UNREADABLE", "the client certificate cannot be parsed");
    }
    const [leaf] = chain;
    if (leaf === undefined) throw new HubRefusal(5, "NO_CREDENTIALS", "no client certificate");
    const now = this.#clock.now();
    const notAfter = new Date(leaf.validTo).toISOString();
    const cn = commonNameOf(leaf);
    const { authentication } = identity;
    if (authentication.type === "sas") {
      throw new HubRefusal(
        5,
        "X509_NOT_ALLOWED",
        `${identity.name} authenticates with a SAS key; send a SAS token as password`,
      );
    }
    if (!withinValidity(leaf, now)) {
      throw new HubRefusal(
        5,
        "CERTIFICATE_EXPIRED",
        `the client certificate is not valid now (valid ${leaf.validFrom} to ${leaf.validTo}); provision again for a new one`,
      );
    }
    if (authentication.type === "selfSigned") {
      const allowed = [authentication.primaryThumbprint, authentication.secondaryThumbprint];
      const sha1 = hex(leaf.fingerprint);
      const sha256 = hex(leaf.fingerprint256);
      if (!allowed.some((value) => value !== undefined && (value === sha1 || value === sha256))) {
        throw new HubRefusal(
          5,
          "THUMBPRINT_MISMATCH",
          `the client certificate's thumbprint is not the one registered for ${identity.name}`,
        );
      }
      return { method: "x509SelfSigned", notAfter };
    }
    if (cn !== identity.commonName) {
      throw new HubRefusal(
        5,
        "CN_MISMATCH",
        `the client certificate's CN is ${cn === undefined ? "missing" : `"${cn}"`}, not "${identity.commonName}" of ${identity.name}`,
      );
    }
    const anchors = this.#trustAnchors();
    // Follow the presented chain from the leaf; stop at the first certificate a trusted CA issued.
    let current: X509Certificate | undefined = leaf;
    const path: X509Certificate[] = [];
    for (let index = 1; current !== undefined; index++) {
      path.push(current);
      const from: X509Certificate = current;
      const anchor = anchors.find((candidate) => issuedBy(from, candidate));
      if (anchor !== undefined) {
        for (const certificate of [...path, anchor]) {
          if (!withinValidity(certificate, now)) {
            throw new HubRefusal(
              5,
              "CHAIN_EXPIRED",
              `"${certificate.subject.replaceAll("\n", ", ")}" in the chain is not valid now`,
            );
          }
        }
        return { method: "x509CA", notAfter };
      }
      const next = chain[index];
      current = next !== undefined && issuedBy(from, next) ? next : undefined;
    }
    throw new HubRefusal(
      5,
      "UNTRUSTED_CA",
      `the certificate chain of ${identity.name} (issuer "${leaf.issuer.replaceAll("\n", ", ")}") reaches no CA the hub trusts: ` +
        "neither a synchronized credential-policy issuing CA nor a verified CA certificate",
    );
  }

  #trustAnchors(): X509Certificate[] {
    const anchors: X509Certificate[] = [];
    for (const policy of this.#adr.trust().policies) anchors.push(new X509Certificate(policy.certificatePem));
    for (const record of this.#store.listCaCertificates()) {
      if (record.isVerified) anchors.push(new X509Certificate(record.certificatePem));
    }
    return anchors;
  }
}

function identityOf(device: HubDevice): Identity {
  return {
    name: `device "${device.deviceId}"`,
    resource: `/devices/${device.deviceId}`,
    commonName: device.deviceId,
    authentication: device.authentication,
  };
}

/** Parses `{hostname}/{deviceId}[/{moduleId}]/?api-version=…&…`. */
export function parseHubUsername(
  username: string | undefined,
):
  | { hostname: string; deviceId: string; moduleId: string | undefined; apiVersion: string | undefined }
  | undefined {
  if (username === undefined) return undefined;
  const at = username.indexOf("/?");
  const path = at < 0 ? username.replace(/\/$/, "") : username.slice(0, at);
  const query = at < 0 ? "" : username.slice(at + 2);
  const parts = path.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => part === "")) return undefined;
  const [hostname, deviceId, moduleId] = parts as [string, string, string | undefined];
  const apiVersion = new URLSearchParams(query).get("api-version") ?? undefined;
  return { hostname, deviceId, moduleId, apiVersion };
}
