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
    timed = [b for b in boots if b["timing"]]
    if not timed:
        print("VM figures: no boot printed its timings")
        return
    accel = ",".join(sorted({b["accel"] for b in timed}))

    def col(key, scale=1.0, source=timed):
        return [b["timing"][key] / scale for b in source if isinstance(b["timing"].get(key), (int, float)) and b["timing"][key]]

    kubeboot = [b for b in timed if b["timing"].get("kubeboot_start_us")]
    cloud_init = [b for b in timed if b["timing"].get("cloud_init_start_us")]
    rows = []
    if kubeboot:
        rows += [
            ("kernel start to containerd ready (s)", median(col("containerd_ready_us", 1e6, kubeboot))),
            ("kernel start to kubeboot start (s)", median(col("kubeboot_start_us", 1e6, kubeboot))),
            ("kubeboot wall time (s)", median(col("kubeboot_wall_s", 1, kubeboot))),
            ("kubeboot peak RSS (MiB)", median(col("kubeboot_maxrss_kb", 1024, kubeboot))),
            ("kernel start to kubeboot exit (s)", median(col("kubeboot_exit_us", 1e6, kubeboot))),
            ("qemu start to KUBEBOOT-RESULT on the console (s)", median([b["report_seconds"] for b in kubeboot])),
        ]
    if cloud_init:
        rows += [
            ("kernel start to cloud-init-local start (s)", median(col("cloud_init_start_us", 1e6, cloud_init))),
            ("cloud-init wall time, local start to final exit (s)",
             median([(b["timing"]["cloud_init_exit_us"] - b["timing"]["cloud_init_start_us"]) / 1e6 for b in cloud_init])),
            ("kernel start to cloud-final exit (s)", median(col("cloud_init_exit_us", 1e6, cloud_init))),
        ]
    rows.append(("qemu start to power-off (s)", median([b["qemu_seconds"] for b in timed if b["outcome"] == "poweroff"])))
    print(f"VM figures ({accel}, medians):")
    print("| measure | median | boots |")
    print("|---|---|---|")
    for label, (value, n) in rows:
        print(f"| {label} | {'-' if value is None else f'{value:.2f}'} | {n} |")


if __name__ == "__main__":
    main(sys.argv[1])
