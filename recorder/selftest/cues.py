"""Each cue output (green, red, amber LEDs, buzzer, vibration), through the agent's own
Indicators (io/indicators.py): switched on, read back, held so a technician watching sees,
hears or feels it, switched off, read back.

The read-back is the pin's level as gpiozero reads it: on mock pins the state the pin was
driven to, on the Pi the pad's level (a pin shorted to ground or to 3.3 V reads wrong). An
LED that is open circuit or a motor that does not turn still reads right: that, only the
technician's eyes, ears and hand can tell, and the table says so.
"""

from ..io.indicators import Indicators
from ..io.patterns import OUTPUTS
from .results import FAIL, PASS, SKIP, Result, Text

SHOWN_S = 0.3  # each output on this long: long enough to see a LED, hear a beep, feel a buzz

NAMES = {"green": Text("绿灯", "green LED"), "red": Text("红灯", "red LED"), "amber": Text("黄灯", "amber LED"),
         "buzzer": Text("蜂鸣器", "buzzer"), "vibration": Text("振动马达", "vibration motor")}
LIT = Text("确认看到灯亮", "confirm you saw it light")
CONFIRM = {"green": LIT, "red": LIT, "amber": LIT, "buzzer": Text("确认听到响声", "confirm you heard it"),
           "vibration": Text("确认感到振动", "confirm you felt it")}


def check_cues(config, clock, pin_factory) -> list[Result]:
    indicators = Indicators.from_config(config.cues, clock, pin_factory, stealth=False)
    try:
        return [_check_one(name, indicators, clock) if name in indicators.outputs else _not_fitted(name)
                for name in OUTPUTS]
    finally:
        indicators.close()


def _not_fitted(name: str) -> Result:
    return Result(f"cue.{name}", SKIP, Text(f"未装（cues.{name} = \"\"）", f"not fitted (cues.{name} = \"\")"))


def _check_one(name: str, indicators, clock) -> Result:
    label = NAMES[name]
    on = indicators.drive(name, True)
    clock.sleep_until(clock.monotonic_ns() + round(SHOWN_S * 1e9))
    off = not indicators.drive(name, False)
    measured = {"reads_on": on, "reads_off": off}
    if not (on and off):
        stuck = Text("接通后读为关", "reads off when switched on") if not on else Text("关断后读为开", "reads on when switched off")
        return Result(f"cue.{name}", FAIL, Text(f"{label.zh}引脚{stuck.zh}", f"{label.en} pin {stuck.en}"),
                      Text("引脚短路或接错：对照 hw/pinout.md 检查线路", "the pin is shorted or miswired: check it against "
                           "hw/pinout.md"), measured)
    return Result(f"cue.{name}", PASS, Text("接通、关断，引脚读回一致", "switched on and off, the pin reads back"),
                  CONFIRM[name], measured)
