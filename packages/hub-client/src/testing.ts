export {
  type ConformanceCase,
  type HubClientHarness,
  hubClientConformance,
  type StoredTelemetry,
} from "./conformance.ts";
export { type ConnectAttempt, MemoryHub, type ReceivedMessage } from "./memory-hub.ts";
