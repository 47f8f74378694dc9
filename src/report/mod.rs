//! Completion reporting: status file, sentinels, HTTP report, console, sd_notify.
