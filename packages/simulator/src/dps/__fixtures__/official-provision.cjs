// Provisions one device with the OFFICIAL Azure IoT provisioning client and prints the result as JSON.
// Run in a child process with NODE_EXTRA_CA_CERTS pointing at the simulator's TLS root.
// argv[2]: JSON {host, idScope, registrationId, symmetricKey?, certFile?, keyFile?, payload?}
"use strict";
const { readFileSync } = require("node:fs");
const { ProvisioningDeviceClient } = require("azure-iot-provisioning-device");
const { Mqtt } = require("azure-iot-provisioning-device-mqtt");

const input = JSON.parse(process.argv[2]);
let security;
if (input.symmetricKey !== undefined) {
  const { SymmetricKeySecurityClient } = require("azure-iot-security-symmetric-key");
  security = new SymmetricKeySecurityClient(input.registrationId, input.symmetricKey);
} else {
  const { X509Security } = require("azure-iot-security-x509");
  security = new X509Security(input.registrationId, {
    cert: readFileSync(input.certFile, "utf8"),
    key: readFileSync(input.keyFile, "utf8"),
  });
}
const client = ProvisioningDeviceClient.create(input.host, input.idScope, new Mqtt(), security);
if (input.payload !== undefined) client.setProvisioningPayload(input.payload);
client.register((error, result) => {
  if (error) {
    process.stdout.write(
      JSON.stringify({ ok: false, name: error.name, message: error.message, result: error.result ?? null }),
    );
    process.exitCode = 1;
    return;
  }
  process.stdout.write(JSON.stringify({ ok: true, result }));
});
