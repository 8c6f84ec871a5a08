// The figure reader itself: the screen's formats and the API's strings meet as the same plain
// decimal, and nothing passes through a JavaScript number.
import { compareDecimal, expect, plainDecimal, test } from "./fixtures";

test("screen and API figures normalize to the same plain decimal", () => {
  const same: [string, string][] = [
    ["$1,234.50", "1234.5000000000"],
    ["−$0.00001234", "-0.0000123400"],
    ["$0.00", "0.0000000000"],
    ["$0.00", "-0.0000000000"],
    ["1,204", "1204"],
    ["37.50 %", "37.50"],
    ["−12.00 %", "-12.00"],
    ["$197.9143594808", "197.9143594808"],
    ["$900,719,925,474.0991000001", "900719925474.0991000001"],
    ["—", ""],
  ];
  for (const [screen, api] of same) expect(plainDecimal(screen), `${screen} vs ${api}`).toBe(plainDecimal(api));
  // Digits a float would lose still count.
  expect(plainDecimal("$0.1000000001")).not.toBe(plainDecimal("0.1000000000"));
  expect(plainDecimal("$9,007,199,254,740,993.00")).toBe("9007199254740993");
  expect(() => plainDecimal("1.2e-5")).toThrow();
  expect(compareDecimal("0.0000000001", "0")).toBe(1);
  expect(compareDecimal("-$1.50", "-1.5000000000")).toBe(0);
});
