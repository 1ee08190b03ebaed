import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  ASK_EVERY_MS,
  ASK_KERNEL_MS,
  Heartbeat,
  KERNEL_SILENCE_MS,
  KernelWatchdog,
  PING_INTERVAL_MS,
  WATCHDOG_TICK_MS,
} from "../core/liveness.js";
import { fakeBrowser } from "./fakes.js";

function setup() {
  const browser = fakeBrowser();
  let silences = 0;
  const dog = new KernelWatchdog(browser.env, () => {
    silences += 1;
  });
  return { browser, dog, silences: () => silences };
}

describe("KernelWatchdog", () => {
  test("silent only after KERNEL_SILENCE_MS without hearing, once, then stopped", () => {
    const { browser, dog, silences } = setup();
    browser.advance(10 * KERNEL_SILENCE_MS);
    assert.equal(silences(), 0, "nothing before start()");
    dog.start();
    dog.start(); // a second start only counts as hearing: still one timer
    assert.equal(browser.world.timers.size, 1);
    browser.advance(KERNEL_SILENCE_MS - WATCHDOG_TICK_MS);
    dog.heard();
    browser.advance(KERNEL_SILENCE_MS);
    assert.equal(silences(), 0, "heard in time");
    browser.advance(2 * WATCHDOG_TICK_MS);
    assert.equal(silences(), 1);
    assert.equal(dog.running, false);
    assert.equal(browser.world.timers.size, 0, "its timer is gone");
    browser.advance(10 * KERNEL_SILENCE_MS);
    assert.equal(silences(), 1, "said once");
  });

  test("a quiet kernel is asked after ASK_KERNEL_MS, then every ASK_EVERY_MS, not once heard", () => {
    const browser = fakeBrowser();
    const asks = [];
    let silences = 0;
    const dog = new KernelWatchdog(
      browser.env,
      () => {
        silences += 1;
      },
      () => asks.push(browser.env.now()),
    );
    dog.start();
    const t0 = browser.env.now();
    browser.advance(ASK_KERNEL_MS - WATCHDOG_TICK_MS);
    assert.equal(asks.length, 0, "not before ASK_KERNEL_MS");
    browser.advance(WATCHDOG_TICK_MS);
    assert.equal(asks.length, 1, "asked at the first tick past ASK_KERNEL_MS");
    assert.ok(asks[0] - t0 >= ASK_KERNEL_MS && asks[0] - t0 < ASK_KERNEL_MS + WATCHDOG_TICK_MS);
    browser.advance(ASK_EVERY_MS - WATCHDOG_TICK_MS);
    assert.equal(asks.length, 1, "not at every tick");
    browser.advance(WATCHDOG_TICK_MS);
    assert.equal(asks.length, 2, "again after ASK_EVERY_MS");
    dog.heard(); // the kernel's answer
    browser.advance(ASK_KERNEL_MS - WATCHDOG_TICK_MS);
    assert.equal(asks.length, 2, "heard: quiet again only after ASK_KERNEL_MS");
    browser.advance(WATCHDOG_TICK_MS);
    assert.equal(asks.length, 3);
    browser.advance(KERNEL_SILENCE_MS);
    assert.equal(silences, 1, "asking does not stop the watchdog from giving up");
    const n = asks.length;
    browser.advance(5 * ASK_EVERY_MS);
    assert.equal(asks.length, n, "stopped: no more asks");
  });

  test("a stalled page is not a silent kernel; stop() is idempotent", () => {
    const { browser, dog, silences } = setup();
    dog.start();
    browser.advance(KERNEL_SILENCE_MS - 500);
    browser.stall(5000);
    browser.advance(WATCHDOG_TICK_MS);
    assert.equal(silences(), 0, "the stall does not count");
    browser.advance(KERNEL_SILENCE_MS);
    assert.equal(silences(), 1, "real silence after it still does");
    dog.stop();
    dog.stop();
    dog.start();
    assert.equal(browser.world.timers.size, 0, "stopped is final: a late start() arms nothing");
    dog.stop();
    browser.advance(10 * KERNEL_SILENCE_MS);
    assert.equal(silences(), 1);
    assert.equal(browser.world.timers.size, 0);
  });
});

describe("Heartbeat", () => {
  test("pings every second while nothing else goes out, not while stats do", () => {
    const browser = fakeBrowser();
    let pings = 0;
    const beat = new Heartbeat(browser.env, () => {
      pings += 1;
    });
    beat.start();
    beat.start();
    assert.equal(browser.world.timers.size, 1);
    browser.advance(5 * PING_INTERVAL_MS);
    assert.equal(pings, 5, "one ping a second on its own");
    // stats every second, between the beats (as the page sends them): no ping needed
    for (let i = 0; i < 10; i += 1) {
      browser.advance(PING_INTERVAL_MS / 2);
      beat.sent();
      browser.advance(PING_INTERVAL_MS / 2);
    }
    assert.equal(pings, 5, "stats are proof enough");
    // the stats stop (stats_interval 0, a stuck getStats): a ping at the next beat
    // after a quiet one, so the kernel never waits much more than a second
    browser.advance(PING_INTERVAL_MS);
    assert.equal(pings, 6, "pings resumed at once");
    browser.advance(3 * PING_INTERVAL_MS);
    assert.equal(pings, 9);
    beat.stop();
    beat.stop();
    beat.start();
    assert.equal(browser.world.timers.size, 0, "stopped is final: a late start() arms nothing");
    const before = pings;
    browser.advance(10 * PING_INTERVAL_MS);
    assert.equal(pings, before);
    assert.equal(browser.world.timers.size, 0);
  });
});
