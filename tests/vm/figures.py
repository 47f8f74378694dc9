#!/usr/bin/env python3
"""Prints the VM timing table (medians over the boots in boots.jsonl that ran kubeboot).

Power-on to kubeboot start and kubeboot's wall time and peak RSS come from the guest
(KUBEBOOT-TEST-TIMING: CLOCK_MONOTONIC since the kernel started, GNU time around kubeboot);
boot-to-report and boot-to-poweroff are host wall-clock seconds from starting qemu to the first
KUBEBOOT-RESULT line on the serial console and to qemu's exit.
"""
import json
import statistics
import sys


def median(values):
    values = [v for v in values if v is not None]
    return (statistics.median(values), len(values)) if values else (None, 0)


def main(path):
    try:
        boots = [json.loads(line) for line in open(path) if line.strip()]
    except FileNotFoundError:
        return
    ran = [b for b in boots if b["timing"] and b["timing"].get("kubeboot_start_us")]
    if not ran:
        print("VM figures: no boot ran kubeboot")
        return
    accel = ",".join(sorted({b["accel"] for b in ran}))

    def num(v):
        return v if isinstance(v, (int, float)) else None

    rows = [
        ("kernel start to kubeboot start (s)", median([b["timing"]["kubeboot_start_us"] / 1e6 for b in ran])),
        ("kubeboot wall time (s)", median([num(b["timing"].get("kubeboot_wall_s")) for b in ran])),
        ("kubeboot peak RSS (MiB)", median([num(b["timing"].get("kubeboot_maxrss_kb")) and b["timing"]["kubeboot_maxrss_kb"] / 1024 for b in ran])),
        ("qemu start to KUBEBOOT-RESULT (s)", median([b["report_seconds"] for b in ran])),
        ("qemu start to power-off (s)", median([b["qemu_seconds"] for b in ran if b["outcome"] == "poweroff"])),
    ]
    print(f"VM figures ({accel}, medians over the boots that ran kubeboot):")
    print("| measure | median | boots |")
    print("|---|---|---|")
    for label, (value, n) in rows:
        print(f"| {label} | {'-' if value is None else f'{value:.2f}'} | {n} |")


if __name__ == "__main__":
    main(sys.argv[1])
