import { describe, expect, it } from "vitest";
import { offline, problemsOf } from "./config.test-support.ts";
import { resolveConfig } from "./index.ts";

// The raw schema's own checks: value types, text from the environment, unknown keys, and what the messages say.

/** The problems of a telemetry-off configuration with these sections, as `path: message`. */
function problems(sections: Record<string, unknown>, env: Record<string, string> = {}): string[] {
  return problemsOf(() => resolveConfig({ ...offline, ...sections }, { env })).map(
    (problem) => `${problem.path}: ${problem.message}`,
  );
}

const adr = { Enabled: true, SubscriptionId: "s", ResourceGroupName: "r", NamespaceName: "n", Token: "t" };

describe("configuration schema", () => {
  it("names every unknown key of a section, nested too, with a suggestion or the known keys", () => {
    const nested = problemsOf(() =>
      resolveConfig({ ...offline, Hardware: { PickServo: { Chanel: 3, Wobble: 1, SettleMs: 20 } } }),
    );
    expect(nested).toEqual([
      {
        path: "Hardware.PickServo.Chanel",
        message: "is not a known key.",
        fix: 'did you mean "Channel"? Rename it, or prefix it with "_" to keep it as a comment.',
      },
      {
        path: "Hardware.PickServo.Wobble",
        message: "is not a known key.",
        fix: 'remove it (known keys here: Channel, MinPulseUs, MaxPulseUs, RangeDeg, SecondsPer60Deg, SettleMs), or prefix it with "_" to keep it as a comment.',
      },
    ]);
    expect(problems({ Foo: 1, Outbox: { Bar: 1, Baz: 2, MaxMessages: 1.5 } })).toEqual([
      "Outbox.MaxMessages: must be a whole number.",
      "Outbox.Bar: is not a known key.",
      "Outbox.Baz: is not a known key.",
      "Foo: is not a known key.",
    ]);
  });

  it("reads keys in any case at every depth, from the file and the environment", () => {
    const config = resolveConfig(
      { iothub: { sendtelemetry: "false" }, hardware: { pickservo: { channel: 3 } } },
      { env: { SKITTLE__HARDWARE__CHUTESERVO__CHANNEL: "4" } },
    );
    expect(config.telemetry.enabled).toBe(false);
    expect(config.hardware.pick.channel).toBe(3);
    expect(config.hardware.chute.channel).toBe(4);
  });

  it("takes numbers and booleans as text, and refuses text that is neither", () => {
    const config = resolveConfig(offline, {
      env: { SKITTLE__Sensor__IntegrationTimeMs: " 24 ", SKITTLE__Sensor__AutoRange: "Yes" },
    });
    expect(config.sensor.integrationTimeMs).toBe(24);
    expect(config.sensor.autoRange).toBe(true);
    expect(
      problems({}, { SKITTLE__Sensor__IntegrationTimeMs: "24ms", SKITTLE__Sensor__AutoRange: "maybe" }),
    ).toEqual(["Sensor.IntegrationTimeMs: must be a number.", "Sensor.AutoRange: must be true or false."]);
    // Only text is converted: JSON's own 1 is not a boolean, nor true a number.
    expect(problems({ Sensor: { IdleMs: true, AutoRange: 1 } })).toEqual([
      "Sensor.AutoRange: must be true or false.",
      "Sensor.IdleMs: must be a number.",
    ]);
  });

  it("wants whole numbers where counts and addresses go", () => {
    expect(
      problems({ Sensor: { ReadsPerSkittle: 2.5 }, Hardware: { I2cBus: "1.5", Pca9685Address: "x40" } }),
    ).toEqual([
      "Hardware.I2cBus: must be a whole number.",
      "Hardware.Pca9685Address: must be a whole number.",
      "Sensor.ReadsPerSkittle: must be a whole number.",
    ]);
    // A fraction is neither a chip number nor a chip name; an integer beyond 2^53 is a chip number out of range.
    expect(problems({ Hardware: { PwmChip: 1.5 } })).toEqual([
      'Hardware.PwmChip: must be a chip number (pwmchipN), a /sys/class/pwm/pwmchipN path or a PWM controller such as "1f00098000.pwm".',
    ]);
    expect(problems({ Hardware: { PwmChip: 2 ** 60 } })).toEqual([
      "Hardware.PwmChip: must be a whole number.",
    ]);
  });

  it("takes enumerated values in any case and names the allowed ones otherwise", () => {
    const config = resolveConfig(offline, {
      env: { SKITTLE__Hardware__ServoDriver: "SysFS", SKITTLE__Outbox__WhenFull: "Reject-New" },
    });
    expect(config.hardware.servoDriver).toBe("sysfs");
    expect(config.outbox.whenFull).toBe("reject-new");
    const [driver] = problemsOf(() => resolveConfig({ ...offline, Hardware: { ServoDriver: "PCA9686" } }));
    expect(driver).toEqual({
      path: "Hardware.ServoDriver",
      message: 'must be "pca9685" or "sysfs".',
      fix: 'use "pca9685" for a servo HAT or "sysfs" for the Pi\'s hardware PWM on GPIO12/13.',
    });
    expect(problems({ IoTHub: { SendTelemetry: false, Client: 1 }, Outbox: { WhenFull: "DROP" } })).toEqual([
      'IoTHub.Client: must be "azure-iot-device" (the official SDK) or "hub-mqtt" (renews the certificate through the hub).',
      'Outbox.WhenFull: must be "drop-oldest" or "reject-new".',
    ]);
  });

  it("keeps angles within 0–360° and the sensor gain to the chip's four", () => {
    expect(problems({ ServoPositions: { PickAngle: -1, DropAngle: "361" }, Sensor: { Gain: "5" } })).toEqual([
      "ServoPositions.PickAngle: must be 0° or more.",
      "ServoPositions.DropAngle: must be 360° or less.",
      "Sensor.Gain: must be 1, 4, 16 or 60.",
    ]);
    expect(resolveConfig(offline, { env: { SKITTLE__Sensor__Gain: "60" } }).sensor.gain).toBe(60);
  });

  it("says what a section must be when it is not an object", () => {
    expect(problems({ Sensor: [], Outbox: "big" })).toEqual([
      "Sensor: Invalid input: expected object, received array.",
      "Outbox: Invalid input: expected object, received string.",
    ]);
  });

  it("takes lists and maps as JSON text, and checks their items", () => {
    const config = resolveConfig(offline, {
      env: {
        SKITTLE__MockMode__MockColorSequence: '["Red", "Green"]',
        SKITTLE__Adr__Enabled: "true",
        SKITTLE__Adr__SubscriptionId: "s",
        SKITTLE__Adr__ResourceGroupName: "r",
        SKITTLE__Adr__NamespaceName: "n",
        SKITTLE__Adr__Token: "t",
        SKITTLE__Adr__DeviceUpdate__Enabled: "true",
        SKITTLE__Adr__DeviceUpdate__Attributes: '{"site": "lab", "shelf": 3, "spare": null}',
        SKITTLE__Adr__DeviceUpdate__Tags: '{"owner": "me"}',
      },
    });
    expect(config.rig.sequence).toEqual(["Red", "Green"]);
    expect(config.adr?.deviceUpdate?.attributes).toEqual({ site: "lab", shelf: 3, spare: null });
    expect(config.adr?.deviceUpdate?.tags).toEqual({ owner: "me" });
    const named = resolveConfig({
      ...offline,
      Adr: {
        ...adr,
        DeviceUpdate: {
          Enabled: true,
          Attributes: '{"constructor": "c", "prototype": 1, "__proto__": {"x": 1}}',
          Tags: { constructor: "t" },
        },
      },
    });
    expect(Object.entries(named.adr?.deviceUpdate?.attributes ?? {})).toEqual([
      ["constructor", "c"],
      ["prototype", 1],
    ]);
    expect(Object.entries(named.adr?.deviceUpdate?.tags ?? {})).toEqual([["constructor", "t"]]);
    expect(
      problems({
        MockMode: { MockColorSequence: '["Red", 3' },
        Adr: {
          ...adr,
          DeviceUpdate: { Attributes: { site: { room: 1 }, shelf: 3, constructor: [] }, Tags: { owner: 1 } },
        },
      }),
    ).toEqual([
      "MockMode.MockColorSequence: must be an array of colour names.",
      "Adr.DeviceUpdate.Attributes.site: attribute values must be strings, numbers, booleans or null.",
      "Adr.DeviceUpdate.Attributes.constructor: attribute values must be strings, numbers, booleans or null.",
      "Adr.DeviceUpdate.Tags.owner: tag values must be strings.",
    ]);
    expect(
      problems({
        MockMode: { MockColorSequence: ["Red", 3] },
        Adr: { ...adr, DeviceUpdate: { Attributes: ["lab"], Tags: "owner=me" } },
      }),
    ).toEqual([
      "MockMode.MockColorSequence.1: must be a string.",
      "Adr.DeviceUpdate.Attributes: Invalid input: expected record, received array.",
      "Adr.DeviceUpdate.Tags: Invalid input: expected record, received string.",
    ]);
  });
});
