import { randomUUID, X509Certificate } from "node:crypto";
import { EventEmitter } from "node:events";
import { parseSasToken, verifySasToken } from "@skittlesorter/attestation";
import type { Clock, Logger } from "@skittlesorter/core";
import type { AdrService } from "../adr/service.ts";
import { commonNameOf, hex, issuedBy, withinValidity } from "../dps/attest.ts";
import { HttpError } from "../net/http.ts";
import type { HubDevice, LinkedHub, StoredTelemetry, Twin } from "../state/model.ts";
import type { Store } from "../state/store.ts";

/** How a device authenticated to the hub. */
export type HubAuthMethod = "sas" | "x509CA" | "x509SelfSigned";

/** What a device subscribed to; server messages go only to matching subscriptions. */
export type HubSubscription = "twinResponses" | "desiredUpdates" | "methods" | "cloudToDevice";

/** One live device connection, as the MQTT front end exposes it to the service. */
export interface HubLink {
  readonly deviceId: string;
  readonly hub: string;
  readonly authMethod: HubAuthMethod;
  readonly transport: "mqtt" | "mqtt-ws";
  readonly connectedAt: string;
  /** Publishes to the device if it subscribed to `subscription`; false when it did not. */
  send(subscription: HubSubscription, topic: string, payload: Buffer): boolean;
  subscribed(subscription: HubSubscription): boolean;
  /** What the device subscribed to so far. */
  subscriptions(): HubSubscription[];
  /** Closes the connection. */
  close(reason: string): void;
}

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

/** A telemetry message as the admin API, the CLI and the live stream show it. */
export interface TelemetryView {
  id: number;
  deviceId: string;
  hub: string;
  enqueuedTime: string;
  systemProperties: Record<string, string>;
  properties: Record<string, string>;
  /** UTF-8 text, or base64 when the body is not valid UTF-8 (`bodyEncoding`). */
  body: string;
  bodyEncoding: "utf8" | "base64";
  size: number;
  color?: string;
}

export interface HubConnectionEvent {
  deviceId: string;
  hub: string;
  state: "connected" | "disconnected";
  at: string;
  authMethod?: HubAuthMethod;
  reason?: string;
}

export interface HubServiceOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  adr: AdrService;
  /** Keep at most this many telemetry messages (oldest are pruned). */
  maxTelemetryMessages: number;
}

/** IoT Hub limits the simulator enforces. */
export const HUB_LIMITS = Object.freeze({
  /** Reported or desired properties document, bytes of JSON. */
  maxTwinBytes: 32 * 1024,
  /** Direct method payloads, bytes of JSON. */
  maxMethodPayloadBytes: 128 * 1024,
  minMethodTimeoutSeconds: 5,
  maxMethodTimeoutSeconds: 300,
  defaultMethodTimeoutSeconds: 30,
});

const SYSTEM_PROPERTIES: Record<string, string> = {
  "$.mid": "messageId",
  "$.cid": "correlationId",
  "$.uid": "userId",
  "$.to": "to",
  "$.ct": "contentType",
  "$.ce": "contentEncoding",
  "$.exp": "expiryTimeUtc",
  "$.ctime": "creationTimeUtc",
  "$.ifid": "interfaceId",
  "$.sub": "subject",
  "$.on": "outputName",
  "$.mdid": "moduleId",
};

const TELEMETRY_TOPIC = /^devices\/([^/]+)\/messages\/events(?:\/(.*))?$/s;
const TWIN_REQUEST_TOPIC = /^\$iothub\/twin\/(GET|PATCH)\/(.*?)\?(.*)$/is;
const METHOD_RESPONSE_TOPIC = /^\$iothub\/methods\/res\/(\d{3})\/\?(.*)$/s;

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replaceAll("+", "%20"));
  } catch {
    return text;
  }
}

/** Splits a URL-encoded property bag (`k=v&k2=v2`, `$` possibly sent as `%24`). */
export function parsePropertyBag(bag: string): {
  system: Record<string, string>;
  application: Record<string, string>;
} {
  const system: Record<string, string> = {};
  const application: Record<string, string> = {};
  for (const pair of bag.split("&")) {
    if (pair === "") continue;
    const at = pair.indexOf("=");
    const key = decode(at < 0 ? pair : pair.slice(0, at));
    const value = at < 0 ? "" : decode(pair.slice(at + 1));
    if (key === "") continue;
    if (key.startsWith("$.")) system[SYSTEM_PROPERTIES[key] ?? key] = value;
    else application[key] = value;
  }
  return { system, application };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function telemetryView(message: StoredTelemetry): TelemetryView {
  let body: string;
  let bodyEncoding: TelemetryView["bodyEncoding"] = "utf8";
  try {
    body = utf8.decode(message.body);
  } catch {
    body = message.body.toString("base64");
    bodyEncoding = "base64";
  }
  const view: TelemetryView = {
    id: message.id,
    deviceId: message.deviceId,
    hub: message.hub,
    enqueuedTime: new Date(message.enqueuedAt).toISOString(),
    systemProperties: message.systemProperties,
    properties: message.properties,
    body,
    bodyEncoding,
    size: message.body.length,
  };
  if (message.color !== undefined) view.color = message.color;
  return view;
}

function colorOf(body: Buffer, properties: Record<string, string>): string | undefined {
  let color: unknown;
  if (body.length > 0 && body.length < 64 * 1024 && (body[0] === 0x7b || body[0] === 0x20)) {
    try {
      const parsed = JSON.parse(body.toString("utf8")) as Record<string, unknown>;
      color = parsed?.color ?? parsed?.colour;
    } catch {
      // not JSON: no colour
    }
  }
  color ??= properties.color ?? properties.colour;
  if (typeof color !== "string") return undefined;
  const trimmed = color.trim().slice(0, 32);
  return trimmed === "" ? undefined : trimmed;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** RFC 7396 merge patch (null deletes), returning a new object. */
export function mergePatch(
  target: Record<string, unknown>,
  patch: Record<string, unknown>,
): Record<string, unknown> {
  const result: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else if (isObject(value)) result[key] = mergePatch(isObject(result[key]) ? result[key] : {}, value);
    else result[key] = value;
  }
  return result;
}

function checkTwinPatch(patch: unknown, what: string): Record<string, unknown> {
  if (!isObject(patch)) {
    throw new HttpError(400, "INVALID_BODY", `The ${what} patch must be a JSON object of properties.`);
  }
  const bad = (value: Record<string, unknown>, path: string, depth: number): string | undefined => {
    if (depth > 10) return `${path} is nested deeper than 10 levels`;
    for (const [key, child] of Object.entries(value)) {
      if (key.startsWith("$")) return `${path}${key} starts with "$" (reserved for $version and $metadata)`;
      if (isObject(child)) {
        const found = bad(child, `${path}${key}.`, depth + 1);
        if (found !== undefined) return found;
      }
    }
    return undefined;
  };
  const problem = bad(patch, "", 1);
  if (problem !== undefined) {
    throw new HttpError(400, "INVALID_BODY", `The ${what} patch is refused: ${problem}.`);
  }
  return patch;
}

interface PendingMethod {
  deviceId: string;
  resolve(answer: { status: number; payload: unknown }): void;
}

/**
 * The simulator's IoT Hub: device authentication, telemetry, twins and direct methods. The MQTT front end
 * (`hub-endpoint.ts`) feeds it; the admin API reads from it. Emits `telemetry` (TelemetryView),
 * `connection` (HubConnectionEvent) and `twin` ({deviceId, hub, part, version}).
 */
export class HubService extends EventEmitter {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #adr: AdrService;
  readonly #maxTelemetry: number;
  readonly #links = new Map<string, HubLink>();
  readonly #lastConnection = new Map<string, HubConnectionEvent>();
  readonly #pending = new Map<string, PendingMethod>();
  #requestCounter = 0;
  #insertsSincePrune = 0;

  constructor(options: HubServiceOptions) {
    super();
    this.setMaxListeners(0);
    this.#store = options.store;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#adr = options.adr;
    this.#maxTelemetry = options.maxTelemetryMessages;
    // ADR manages the hub identities: disabling or deleting a device there applies here.
    this.#adr.onDeviceChange((change) => {
      const device = this.device(change.deviceId);
      if (device !== undefined && change.deleted) {
        this.#store.deleteDevice(device.hub, device.deviceId);
        this.#store.deleteTwin(device.hub, device.deviceId);
      } else if (device !== undefined && (device.status === "enabled") !== change.enabled) {
        this.#store.putDevice({
          ...device,
          status: change.enabled ? "enabled" : "disabled",
          updated: this.#now(),
        });
      }
      if (change.enabled && !change.deleted) return;
      this.disconnect(change.deviceId, change.deleted ? "device deleted" : "device disabled");
    });
  }

  #now(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  /** The hubs this simulator serves itself (normally one). */
  localHubs(): LinkedHub[] {
    return this.#store.listHubs().filter((hub) => hub.local);
  }

  /** The local hub's device record. */
  device(deviceId: string): HubDevice | undefined {
    for (const hub of this.localHubs()) {
      const device = this.#store.getDevice(hub.name, deviceId);
      if (device !== undefined) return device;
    }
    return undefined;
  }

  link(deviceId: string): HubLink | undefined {
    return this.#links.get(deviceId);
  }

  connectionState(deviceId: string): HubConnectionEvent | undefined {
    return this.#lastConnection.get(deviceId);
  }

  // --- connect -----------------------------------------------------------------------------------

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
    if (parsed.moduleId !== undefined) {
      throw new HubRefusal(2, "MODULES_UNSUPPORTED", "module identities are not simulated");
    }
    if (credentials.clientId !== parsed.deviceId) {
      throw new HubRefusal(
        2,
        "CLIENT_ID_MISMATCH",
        `client id "${credentials.clientId}" differs from the device id "${parsed.deviceId}" of the user name`,
      );
    }
    const { deviceId } = parsed;
    const device = this.device(deviceId);
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
    const session: HubSession = {
      deviceId,
      hub: device.hub,
      authMethod: "sas",
      apiVersion: parsed.apiVersion,
    };
    if (credentials.password !== undefined && credentials.password !== "") {
      this.#checkSas(device, credentials.password);
      return session;
    }
    if (credentials.peerChain.length === 0) {
      throw new HubRefusal(
        5,
        "NO_CREDENTIALS",
        "neither a SAS token (MQTT password) nor a TLS client certificate was presented",
      );
    }
    const checked = this.#checkCertificate(device, credentials.peerChain);
    session.authMethod = checked.method;
    session.certificateNotAfter = checked.notAfter;
    return session;
  }

  #checkSas(device: HubDevice, token: string): void {
    if (device.authentication.type !== "sas") {
      throw new HubRefusal(
        5,
        "SAS_NOT_ALLOWED",
        `device "${device.deviceId}" authenticates with X.509 (${device.authentication.type}); connect with its certificate and no password`,
      );
    }
    let parsed: ReturnType<typeof parseSasToken>;
    try {
      parsed = parseSasToken(token);
    } catch {
      throw new HubRefusal(5, "SAS_MALFORMED", "the SAS token is malformed");
    }
    const suffix = `/devices/${device.deviceId}`.toLowerCase();
    if (!parsed.resourceUri.toLowerCase().endsWith(suffix)) {
      throw new HubRefusal(
        5,
        "SAS_RESOURCE_MISMATCH",
        `the SAS token is for "${parsed.resourceUri}", not {hostname}/devices/${device.deviceId}`,
      );
    }
    if (parsed.keyName !== undefined) {
      throw new HubRefusal(
        5,
        "SAS_KEY_NAME",
        `the SAS token names a shared access policy (skn=${parsed.keyName}); devices sign with their own key and no skn`,
      );
    }
    const keys = [device.authentication.primaryKey, device.authentication.secondaryKey].filter(
      (key) => key !== "",
    );
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
    throw new HubRefusal(5, "SAS_SIGNATURE_MISMATCH", "the SAS signature matches neither device key");
  }

  #checkCertificate(
    device: HubDevice,
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
    if (device.authentication.type === "sas") {
      throw new HubRefusal(
        5,
        "X509_NOT_ALLOWED",
        `device "${device.deviceId}" authenticates with a SAS key (symmetric-key provisioning without a CSR); send a SAS token as password`,
      );
    }
    if (!withinValidity(leaf, now)) {
      throw new HubRefusal(
        5,
        "CERTIFICATE_EXPIRED",
        `the client certificate is not valid now (valid ${leaf.validFrom} to ${leaf.validTo}); provision again for a new one`,
      );
    }
    if (device.authentication.type === "selfSigned") {
      const allowed = [device.authentication.primaryThumbprint, device.authentication.secondaryThumbprint];
      const sha1 = hex(leaf.fingerprint);
      const sha256 = hex(leaf.fingerprint256);
      if (!allowed.some((value) => value !== undefined && (value === sha1 || value === sha256))) {
        throw new HubRefusal(
          5,
          "THUMBPRINT_MISMATCH",
          "the client certificate's thumbprint is not the device's",
        );
      }
      return { method: "x509SelfSigned", notAfter };
    }
    if (cn !== device.deviceId) {
      throw new HubRefusal(
        5,
        "CN_MISMATCH",
        `the client certificate's CN is ${cn === undefined ? "missing" : `"${cn}"`}, not the device id "${device.deviceId}"`,
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
      `the certificate chain of "${device.deviceId}" (issuer "${leaf.issuer.replaceAll("\n", ", ")}") reaches no CA the hub trusts: ` +
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

  /** Records a new connection; one per device (a previous one is closed). */
  attach(link: HubLink): void {
    const previous = this.#links.get(link.deviceId);
    this.#links.set(link.deviceId, link);
    if (previous !== undefined && previous !== link) previous.close("a new connection of the same device");
    const event: HubConnectionEvent = {
      deviceId: link.deviceId,
      hub: link.hub,
      state: "connected",
      at: link.connectedAt,
      authMethod: link.authMethod,
    };
    this.#lastConnection.set(link.deviceId, event);
    this.#store.addEvent(event.at, "hub.connected", link.deviceId, {
      authMethod: link.authMethod,
      transport: link.transport,
    });
    this.emit("connection", event);
  }

  detach(link: HubLink, reason: string): void {
    if (this.#links.get(link.deviceId) !== link) return;
    this.#links.delete(link.deviceId);
    const event: HubConnectionEvent = {
      deviceId: link.deviceId,
      hub: link.hub,
      state: "disconnected",
      at: this.#now(),
      authMethod: link.authMethod,
      reason,
    };
    this.#lastConnection.set(link.deviceId, event);
    try {
      this.#store.addEvent(event.at, "hub.disconnected", link.deviceId, { reason });
    } catch {
      // the store may be closing
    }
    this.emit("connection", event);
  }

  /** Closes the device's connection, if any. */
  disconnect(deviceId: string, reason: string): void {
    this.#links.get(deviceId)?.close(reason);
  }

  refused(credentials: HubCredentials, refusal: HubRefusal): void {
    this.#logger.info("IoT Hub connection refused", {
      clientId: credentials.clientId,
      reason: refusal.reason,
      message: refusal.message,
    });
    this.#store.addEvent(this.#now(), "hub.connectionRefused", credentials.clientId.slice(0, 128), {
      reason: refusal.reason,
      message: refusal.message,
    });
  }

  // --- publishes from devices -------------------------------------------------------------------

  /**
   * Handles a device PUBLISH. Telemetry is stored before this returns (so QoS 1 is acknowledged only after
   * that). Throws when the topic is not one the device may publish to (the front end then disconnects it).
   */
  handlePublish(session: HubSession, topic: string, payload: Buffer, retain: boolean): void {
    const telemetry = TELEMETRY_TOPIC.exec(topic);
    if (telemetry !== null) {
      const target = decode(telemetry[1] ?? "");
      if (target !== session.deviceId) {
        throw this.#publishRefused(
          session,
          topic,
          `a device can only send telemetry as itself (devices/${session.deviceId}/messages/events/)`,
        );
      }
      this.#storeTelemetry(session, telemetry[2] ?? "", payload, retain);
      return;
    }
    const twin = TWIN_REQUEST_TOPIC.exec(topic);
    if (twin !== null) {
      this.#twinRequest(
        session,
        (twin[1] ?? "").toUpperCase(),
        twin[2] ?? "",
        new URLSearchParams(twin[3]),
        payload,
      );
      return;
    }
    const method = METHOD_RESPONSE_TOPIC.exec(topic);
    if (method !== null) {
      this.#methodResponse(session, Number(method[1]), new URLSearchParams(method[2]), payload);
      return;
    }
    throw this.#publishRefused(session, topic, "the topic is not one a device may publish to");
  }

  #publishRefused(session: HubSession, topic: string, why: string): Error {
    this.#logger.warn("IoT Hub publish refused; disconnecting", {
      deviceId: session.deviceId,
      topic: topic.slice(0, 200),
      why,
    });
    this.#store.addEvent(this.#now(), "hub.publishRefused", session.deviceId, {
      topic: topic.slice(0, 200),
      why,
    });
    return new Error(`publish to ${topic.slice(0, 200)} refused: ${why}`);
  }

  #storeTelemetry(session: HubSession, bag: string, payload: Buffer, retain: boolean): void {
    const { system, application } = parsePropertyBag(bag);
    if (retain) application["mqtt-retain"] = "true";
    const enqueuedAt = this.#clock.now();
    const systemProperties: Record<string, string> = {
      ...system,
      connectionDeviceId: session.deviceId,
      connectionAuthMethod: session.authMethod,
      enqueuedTime: new Date(enqueuedAt).toISOString(),
    };
    const message: Omit<StoredTelemetry, "id"> = {
      hub: session.hub,
      deviceId: session.deviceId,
      enqueuedAt,
      systemProperties,
      properties: application,
      body: Buffer.from(payload),
    };
    const color = colorOf(payload, application);
    if (color !== undefined) message.color = color;
    const id = this.#store.addTelemetry(message);
    if (++this.#insertsSincePrune >= 500) {
      this.#insertsSincePrune = 0;
      this.#store.pruneTelemetry(this.#maxTelemetry);
    }
    this.emit("telemetry", telemetryView({ ...message, id }));
  }

  // --- twins -------------------------------------------------------------------------------------

  /** The device's twin, created (empty, versions 1) on first use. */
  twin(hub: string, deviceId: string): Twin {
    const existing = this.#store.getTwin(hub, deviceId);
    if (existing !== undefined) return existing;
    const now = this.#now();
    return {
      hub,
      deviceId,
      tags: {},
      desired: {},
      desiredVersion: 1,
      desiredUpdated: now,
      reported: {},
      reportedVersion: 1,
      reportedUpdated: now,
      version: 1,
      etag: randomUUID(),
    };
  }

  #twinRequest(
    session: HubSession,
    verb: string,
    resource: string,
    query: URLSearchParams,
    payload: Buffer,
  ): void {
    const rid = query.get("$rid");
    if (rid === null || rid === "") return; // nothing to answer on
    const answer = (status: number, body: unknown, extra = ""): void => {
      const link = this.#links.get(session.deviceId);
      const text = body === undefined ? "" : JSON.stringify(body);
      link?.send("twinResponses", `$iothub/twin/res/${status}/?$rid=${rid}${extra}`, Buffer.from(text));
    };
    const path = resource.replace(/\/+$/, "").toLowerCase();
    if (verb === "GET" && path === "") {
      const twin = this.twin(session.hub, session.deviceId);
      answer(200, {
        desired: { ...twin.desired, $version: twin.desiredVersion },
        reported: { ...twin.reported, $version: twin.reportedVersion },
      });
      return;
    }
    if (verb === "PATCH" && path === "properties/reported") {
      let patch: Record<string, unknown>;
      try {
        patch = checkTwinPatch(JSON.parse(payload.toString("utf8")), "reported properties");
      } catch (error) {
        const message =
          error instanceof HttpError ? error.message : "The reported properties patch is not JSON.";
        answer(400, { errorCode: 400004, message });
        return;
      }
      try {
        const twin = this.#updateTwin(session.hub, session.deviceId, "reported", patch);
        answer(204, undefined, `&$version=${twin.reportedVersion}`);
      } catch (error) {
        answer(400, { errorCode: 400004, message: (error as Error).message });
      }
      return;
    }
    answer(400, {
      errorCode: 400000,
      message: `Unsupported twin operation ${verb} ${resource}; use GET / or PATCH /properties/reported/.`,
    });
  }

  #updateTwin(
    hub: string,
    deviceId: string,
    part: "desired" | "reported",
    patch: Record<string, unknown>,
  ): Twin {
    const twin = this.twin(hub, deviceId);
    const merged = mergePatch(twin[part], patch);
    if (Buffer.byteLength(JSON.stringify(merged)) > HUB_LIMITS.maxTwinBytes) {
      throw new HttpError(
        400,
        "TWIN_TOO_LARGE",
        `The ${part} properties would exceed ${HUB_LIMITS.maxTwinBytes} bytes of JSON; send less.`,
      );
    }
    const now = this.#now();
    const updated: Twin =
      part === "desired"
        ? { ...twin, desired: merged, desiredVersion: twin.desiredVersion + 1, desiredUpdated: now }
        : { ...twin, reported: merged, reportedVersion: twin.reportedVersion + 1, reportedUpdated: now };
    updated.version = twin.version + 1;
    updated.etag = randomUUID();
    this.#store.putTwin(updated);
    this.emit("twin", {
      deviceId,
      hub,
      part,
      version: part === "desired" ? updated.desiredVersion : updated.reportedVersion,
    });
    return updated;
  }

  /** Service side: patches desired properties (and tags) and pushes the desired patch to the connected device. */
  patchDesired(
    deviceId: string,
    patch: { desired?: Record<string, unknown>; tags?: Record<string, unknown> },
    ifMatch?: string,
  ): Twin {
    const device = this.#requireDevice(deviceId);
    const current = this.twin(device.hub, deviceId);
    if (ifMatch !== undefined && ifMatch !== "*" && ifMatch !== current.etag) {
      throw new HttpError(
        412,
        "ETAG_MISMATCH",
        "The twin's etag changed; read the twin again and retry with its current etag.",
      );
    }
    let twin = current;
    if (patch.tags !== undefined) {
      const tags = mergePatch(twin.tags, checkTwinPatch(patch.tags, "tags"));
      twin = { ...twin, tags, version: twin.version + 1, etag: randomUUID() };
      this.#store.putTwin(twin);
    }
    if (patch.desired !== undefined) {
      const desired = checkTwinPatch(patch.desired, "desired properties");
      twin = this.#updateTwin(device.hub, deviceId, "desired", desired);
      const sent = this.#links
        .get(deviceId)
        ?.send(
          "desiredUpdates",
          `$iothub/twin/PATCH/properties/desired/?$version=${twin.desiredVersion}`,
          Buffer.from(JSON.stringify({ ...desired, $version: twin.desiredVersion })),
        );
      this.#logger.debug("desired properties updated", {
        deviceId,
        version: twin.desiredVersion,
        pushed: sent === true,
      });
    }
    return twin;
  }

  #requireDevice(deviceId: string): HubDevice {
    const device = this.device(deviceId);
    if (device === undefined) {
      throw new HttpError(
        404,
        "DEVICE_NOT_FOUND",
        `Device "${deviceId}" is not in the hub's registry; provision it through DPS first (GET /admin/devices lists them).`,
      );
    }
    return device;
  }

  // --- direct methods ----------------------------------------------------------------------------

  /**
   * Invokes a direct method and resolves with the device's `{status, payload}`. Rejects with an HttpError:
   * 404 `DeviceNotOnline` (not connected, or not subscribed to `$iothub/methods/POST/#`, within
   * `connectTimeoutMs`), 504 `GatewayTimeout` (no answer within `responseTimeoutMs`).
   */
  async invokeMethod(
    deviceId: string,
    methodName: string,
    payload: unknown,
    options: { responseTimeoutMs: number; connectTimeoutMs: number; signal?: AbortSignal },
  ): Promise<{ status: number; payload: unknown }> {
    this.#requireDevice(deviceId);
    const link = await this.#waitForMethodsLink(deviceId, options.connectTimeoutMs, options.signal);
    if (link === undefined) {
      throw new HttpError(
        404,
        "DEVICE_NOT_ONLINE",
        `Device "${deviceId}" is not online for direct methods: it is not connected, or has not subscribed to $iothub/methods/POST/# ` +
          "(with the Node SDK: client.onDeviceMethod). Retry when it is, or pass connectTimeoutInSeconds.",
      );
    }
    const rid = (++this.#requestCounter).toString(16);
    const body = Buffer.from(JSON.stringify(payload ?? null));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(rid);
        reject(
          new HttpError(
            504,
            "METHOD_TIMEOUT",
            `Device "${deviceId}" did not answer method "${methodName}" within ${options.responseTimeoutMs / 1000} s; ` +
              "raise responseTimeoutInSeconds or check the device's method handler.",
          ),
        );
      }, options.responseTimeoutMs);
      this.#pending.set(rid, {
        deviceId,
        resolve: (answer) => {
          clearTimeout(timer);
          this.#pending.delete(rid);
          resolve(answer);
        },
      });
      this.#store.addEvent(this.#now(), "hub.methodInvoked", deviceId, { methodName });
      link.send("methods", `$iothub/methods/POST/${methodName}/?$rid=${rid}`, body);
    });
  }

  async #waitForMethodsLink(
    deviceId: string,
    connectTimeoutMs: number,
    signal: AbortSignal | undefined,
  ): Promise<HubLink | undefined> {
    const ready = (): HubLink | undefined => {
      const link = this.#links.get(deviceId);
      return link?.subscribed("methods") ? link : undefined;
    };
    const deadline = Date.now() + connectTimeoutMs;
    let link = ready();
    while (link === undefined && Date.now() < deadline && signal?.aborted !== true) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(100, Math.max(1, deadline - Date.now()))));
      link = ready();
    }
    return link;
  }

  #methodResponse(session: HubSession, status: number, query: URLSearchParams, payload: Buffer): void {
    const rid = query.get("$rid") ?? "";
    const pending = this.#pending.get(rid);
    if (pending === undefined || pending.deviceId !== session.deviceId) {
      this.#logger.debug("method response for no pending request ignored", {
        deviceId: session.deviceId,
        rid,
      });
      return;
    }
    const text = payload.toString("utf8");
    let parsed: unknown = null;
    if (text.trim() !== "") {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
    }
    pending.resolve({ status, payload: parsed });
  }

  /** Rejects every pending method call (shutdown). */
  close(): void {
    for (const [rid, pending] of this.#pending) {
      this.#pending.delete(rid);
      pending.resolve({ status: 503, payload: { message: "the simulator is stopping" } });
    }
    this.removeAllListeners();
  }
}

/** Parses `{hostname}/{deviceId}[/{moduleId}]/?api-version=…&…`. */
export function parseHubUsername(
  username: string | undefined,
): { hostname: string; deviceId: string; moduleId?: string; apiVersion: string | undefined } | undefined {
  if (username === undefined) return undefined;
  const at = username.indexOf("/?");
  const path = at < 0 ? username.replace(/\/$/, "") : username.slice(0, at);
  const query = at < 0 ? "" : username.slice(at + 2);
  const parts = path.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => part === "")) return undefined;
  const [hostname, deviceId, moduleId] = parts as [string, string, string | undefined];
  const apiVersion = new URLSearchParams(query).get("api-version") ?? undefined;
  return { hostname, deviceId, ...(moduleId === undefined ? {} : { moduleId }), apiVersion };
}
