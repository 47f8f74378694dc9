#!/usr/bin/env bash
# The machinery itself: the image boots under qemu with no network, systemd starts
# kubeboot.service from the image, the test hook powers the VM off, and the disk reads back.
source "$(dirname "$0")/lib.sh"

seed "$SCENARIO" "$REPO/examples/control-plane.yaml"
boot "$SCENARIO" --seed "$VM_WORK/$SCENARIO/seed.iso"
check "VM powered itself off" [ "$(source "$VM_WORK/$SCENARIO/boot.env" && echo "$outcome")" = poweroff ]

t=$(timing "$SCENARIO")
check "test hook printed the timing line" [ -n "$t" ]
check "systemd started kubeboot.service" [ "$(json kubeboot_start_us <<<"$t")" -gt 0 ]
check "kubeboot ran under the measuring wrapper" [ "$(json kubeboot_maxrss_kb <<<"$t")" -gt 0 ]
check "advertise address on dummy kb0" grep -aqE 'kb0 .*192\.168\.56\.10/24' <(console "$SCENARIO")
links=$(console "$SCENARIO" | sed -n '/KUBEBOOT-TEST-LINKS-BEGIN/,/KUBEBOOT-TEST-LINKS-END/p' | grep -aoE '^(\[[ 0-9.]+\] finish\[[0-9]+\]: )?[a-z][a-z0-9]* ' | awk '{print $NF}' | sort | paste -sd' ')
check "no network device besides lo and kb0 (got: $links)" [ "$links" = "kb0 lo" ]

readback "$SCENARIO" /etc/machine-id /usr/local/bin/kubeboot /etc/systemd/system/multi-user.target.wants
disk=$VM_WORK/$SCENARIO/disk
check "guest writes reach the disk (machine-id made at first boot)" grep -qE '^[0-9a-f]{32}$' "$disk/etc/machine-id"
check "baked binary is the one under test" cmp -s "$disk/usr/local/bin/kubeboot" "$KUBEBOOT_BIN"
check "baked binary mode 0755" [ "$(mode "$disk/usr/local/bin/kubeboot")" = 755 ]
check "kubeboot.service enabled" [ -L "$disk/etc/systemd/system/multi-user.target.wants/kubeboot.service" ]
finish
