// `@skittlesorter/simulator/testing`: what test authors otherwise write by hand against a simulator.

export { type StartEdgeSimulatorOptions, startEdgeSimulator } from "./edge.ts";
export {
  type DeviceCredentials,
  type ProvisionDeviceOptions,
  provisionDevice,
  type SimulatorLike,
} from "./provision.ts";
export { TEST_CA_NAME, TEST_X509_GROUP } from "./test-ca.ts";
