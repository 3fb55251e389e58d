import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "@skittlesorter/test-utils";
import { afterEach, describe, expect, it, vi } from "vitest";
import { findPwmChip, listPwmChips, openSysfsPwm } from "./index.ts";
import { createFakeSysfsPwm, RASPBERRY_PI_PWM_LAYOUTS } from "./testing.ts";

describe("openSysfsPwm", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("exports the channel, sets a 20 ms period, then duty_cycle in ns, then enable", async () => {
    await using dir = await tempDir();
    const fake = await createFakeSysfsPwm({ root: dir.path });
    const pwm = await openSysfsPwm({ root: dir.path, fs: fake.fs });
    expect(pwm.channelCount).toBe(2);
    expect(pwm.periodNs).toBe(20_000_000);
    await pwm.setPulseWidth(1, 1500);
    await pwm.setPulseWidth(1, 1000);
    await pwm.release(1);
    expect(fake.writes.map(({ path, value }) => [path, value])).toEqual([
      ["pwmchip0/export", "1"],
      ["pwmchip0/pwm1/period", "20000000"],
      ["pwmchip0/pwm1/duty_cycle", "1500000"],
      ["pwmchip0/pwm1/enable", "1"],
      ["pwmchip0/pwm1/duty_cycle", "1000000"],
      ["pwmchip0/pwm1/enable", "0"],
    ]);
    expect(await readFile(join(dir.path, "pwmchip0/pwm1/duty_cycle"), "utf8")).toBe("1000000\n");
    await pwm.close();
    expect(fake.writes.at(-1)).toMatchObject({ path: "pwmchip0/unexport", value: "1" });
    expect(existsSync(join(dir.path, "pwmchip0/pwm1"))).toBe(false);
  });

  it("takes over a channel someone else exported: shrinks the duty cycle before the period, keeps it exported", async () => {
    await using dir = await tempDir();
    const fake = await createFakeSysfsPwm({ root: dir.path });
    await fake.fs.writeFile(join(dir.path, "pwmchip0/export"), "0");
    await fake.fs.writeFile(join(dir.path, "pwmchip0/pwm0/period"), "40000000");
    await fake.fs.writeFile(join(dir.path, "pwmchip0/pwm0/duty_cycle"), "30000000");
    const before = fake.writes.length;
    const pwm = await openSysfsPwm({ root: dir.path, fs: fake.fs });
    await pwm.setPulseWidth(0, 2000);
    await pwm.close();
    expect(fake.writes.slice(before).map(({ path, value }) => [path, value])).toEqual([
      ["pwmchip0/pwm0/duty_cycle", "0"],
      ["pwmchip0/pwm0/period", "20000000"],
      ["pwmchip0/pwm0/duty_cycle", "2000000"],
      ["pwmchip0/pwm0/enable", "1"],
      ["pwmchip0/pwm0/enable", "0"],
    ]);
    expect(fake.channel(0, 0)).toMatchObject({ periodNs: 20_000_000, enabled: false });
  });

  it("retries while udev has not yet granted access to a freshly exported channel", async () => {
    vi.useFakeTimers({ now: 0, toFake: ["setTimeout", "clearTimeout", "Date"] });
    await using dir = await tempDir();
    const fake = await createFakeSysfsPwm({ root: dir.path, exportAccessDelayMs: 120 });
    const pwm = await openSysfsPwm({ root: dir.path, fs: fake.fs });
    let settled = false;
    const pending = pwm.setPulseWidth(0, 1500).finally(() => {
      settled = true;
    });
    // Advance fake time only while the driver waits on a timer; otherwise let its real file I/O finish, so a
    // loaded machine cannot make fake time outrun the filesystem.
    for (let step = 0; step < 100_000 && !settled; step += 1) {
      if (vi.getTimerCount() > 0) await vi.advanceTimersByTimeAsync(10);
      else await new Promise((resolve) => setImmediate(resolve));
    }
    await pending;
    expect(fake.pulseUs(0, 0)).toBe(1500);
    expect(fake.writes.find((w) => w.path.endsWith("period"))?.atMs).toBeGreaterThanOrEqual(120);
  });

  it("gives up with SERVO_PERMISSION_DENIED and the gpio-group fix when access never comes", async () => {
    await using dir = await tempDir();
    const fake = await createFakeSysfsPwm({ root: dir.path, exportAccessDelayMs: 60_000 });
    const pwm = await openSysfsPwm({ root: dir.path, fs: fake.fs, exportTimeoutMs: 30 });
    const error = await pwm.setPulseWidth(0, 1500).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "SERVO_PERMISSION_DENIED", osCode: "EACCES", channel: 0 });
    expect((error as Error).message).toMatch(/usermod -aG gpio/);
  });

  it("reports a missing PWM chip, listing the chips there are (or the pwm-2chan overlay when there are none)", async () => {
    await using dir = await tempDir();
    const fake = await createFakeSysfsPwm({ root: dir.path });
    const error = await openSysfsPwm({ root: dir.path, fs: fake.fs, chip: 2 }).catch(
      (caught: unknown) => caught,
    );
    expect(error).toMatchObject({ code: "SERVO_PWM_UNAVAILABLE", path: join(dir.path, "pwmchip2") });
    expect((error as Error).message).toMatch(
      /lists: pwmchip0 \(device .*fe20c000\.pwm\)\. Leave the chip unset/,
    );
    await using empty = await tempDir();
    await expect(openSysfsPwm({ root: empty.path, chip: 0 })).rejects.toThrow(
      /lists no PWM chips\. Enable hardware PWM .*dtoverlay=pwm-2chan,pin=12,func=4,pin2=13,func2=4/,
    );
  });

  it.skipIf(existsSync("/sys/class/pwm"))(
    "on this machine, the default /sys/class/pwm has no chips and says how to enable them",
    async () => {
      await expect(openSysfsPwm()).rejects.toMatchObject({
        code: "SERVO_PWM_UNAVAILABLE",
        message: expect.stringContaining("/sys/class/pwm lists no PWM chips"),
      });
      await expect(openSysfsPwm()).rejects.toThrow(/dtoverlay=pwm-2chan/);
    },
  );

  it("maps a kernel EINVAL to SERVO_IO_ERROR naming the file", async () => {
    await using dir = await tempDir();
    const fake = await createFakeSysfsPwm({ root: dir.path, chips: [{ chip: 0, npwm: 1 }] });
    const refusing = {
      readFile: fake.fs.readFile,
      writeFile: async (path: string, data: string) => {
        if (path.endsWith("enable")) {
          throw Object.assign(new Error("EINVAL: invalid argument, write"), { code: "EINVAL" });
        }
        await fake.fs.writeFile(path, data);
      },
    };
    const pwm = await openSysfsPwm({ root: dir.path, fs: refusing, chip: 0 });
    await expect(pwm.setPulseWidth(0, 1500)).rejects.toMatchObject({
      code: "SERVO_IO_ERROR",
      osCode: "EINVAL",
      path: join(dir.path, "pwmchip0/pwm0/enable"),
    });
  });

  it("works on a plain directory tree with the default fs when the channel is already exported", async () => {
    await using dir = await tempDir();
    const fake = await createFakeSysfsPwm({ root: dir.path });
    await fake.fs.writeFile(join(dir.path, "pwmchip0/export"), "1");
    const pwm = await openSysfsPwm({ root: dir.path, releaseOnClose: false });
    await pwm.setPulseWidth(1, 1200);
    expect(await readFile(join(dir.path, "pwmchip0/pwm1/period"), "utf8")).toBe("20000000");
    expect(await readFile(join(dir.path, "pwmchip0/pwm1/duty_cycle"), "utf8")).toBe("1200000");
    expect(await readFile(join(dir.path, "pwmchip0/pwm1/enable"), "utf8")).toBe("1");
  });

  it("validates its options", async () => {
    await using dir = await tempDir();
    await writeFile(join(dir.path, "npwm"), "2");
    await expect(openSysfsPwm({ root: dir.path, chip: -1 })).rejects.toMatchObject({
      code: "SERVO_INVALID_OPTION",
    });
    await expect(openSysfsPwm({ root: dir.path, frequencyHz: 0 })).rejects.toMatchObject({
      code: "SERVO_INVALID_OPTION",
    });
  });
});

describe("finding the PWM chip by its device, not its number", () => {
  it.each([
    ["pi4", 0],
    ["pi5-kernel-6.6", 2],
    ["pi5-kernel-6.12", 0],
  ] as const)("on a %s layout the Raspberry Pi PWM controller is pwmchip%i", async (layout, expected) => {
    await using dir = await tempDir();
    const fake = await createFakeSysfsPwm({ root: dir.path, chips: RASPBERRY_PI_PWM_LAYOUTS[layout] });
    const found = await findPwmChip({ root: dir.path, fs: fake.fs });
    expect(found).toMatchObject({ chip: expected, path: join(dir.path, `pwmchip${expected}`) });
    const pwm = await openSysfsPwm({ root: dir.path, fs: fake.fs });
    expect(pwm.chipPath).toBe(join(dir.path, `pwmchip${expected}`));
    await pwm.setPulseWidth(1, 1500);
    expect(fake.pulseUs(expected, 1)).toBe(1500);
    await pwm.close();
  });

  it("lists every chip with the device its link resolves to", async () => {
    await using dir = await tempDir();
    const fake = await createFakeSysfsPwm({
      root: dir.path,
      chips: RASPBERRY_PI_PWM_LAYOUTS["pi5-kernel-6.6"],
    });
    const chips = await listPwmChips({ root: dir.path, fs: fake.fs });
    expect(chips.map(({ chip, device }) => [chip, device?.split("/").at(-1)])).toEqual([
      [0, "107d517a80.pwm"],
      [2, "1f00098000.pwm"],
      [6, "1f0009c000.pwm"],
    ]);
  });

  it("takes an explicit override: a number, a chip directory, or a controller name or device path", async () => {
    await using dir = await tempDir();
    const fake = await createFakeSysfsPwm({
      root: dir.path,
      chips: RASPBERRY_PI_PWM_LAYOUTS["pi5-kernel-6.6"],
    });
    const find = (chip: number | string) => findPwmChip({ root: dir.path, fs: fake.fs, chip });
    await expect(find(6)).resolves.toMatchObject({ chip: 6 });
    await expect(find(join(dir.path, "pwmchip6"))).resolves.toMatchObject({ chip: 6 });
    await expect(find("1f0009c000.pwm")).resolves.toMatchObject({ chip: 6 });
    await expect(find("1000120000.pcie/1f0009c000.pwm")).resolves.toMatchObject({ chip: 6 });
    await expect(find("107d517a80.pwm")).resolves.toMatchObject({ chip: 0 });
  });

  it("names the chips it found when none belongs to the wanted controller", async () => {
    await using dir = await tempDir();
    const fake = await createFakeSysfsPwm({
      root: dir.path,
      chips: [
        { chip: 0, npwm: 2, device: "platform/axi/107d517a80.pwm" },
        { chip: 3, npwm: 1 },
      ],
    });
    const error = await openSysfsPwm({ root: dir.path, fs: fake.fs }).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: "SERVO_PWM_UNAVAILABLE", path: dir.path });
    const message = (error as Error).message;
    expect(message).toContain("1f00098000.pwm, fe20c000.pwm");
    expect(message).toMatch(/pwmchip0 \(device .*107d517a80\.pwm\), pwmchip3 \(no device link\)/);
    expect(message).toMatch(/Pass the chip explicitly/);
    await expect(findPwmChip({ root: dir.path, fs: fake.fs, chip: "fe20c000.pwm" })).rejects.toThrow(
      /controller "fe20c000.pwm"/,
    );
    await expect(findPwmChip({ root: dir.path, chip: " " })).rejects.toMatchObject({
      code: "SERVO_INVALID_OPTION",
    });
  });
});
