//! Datasources: where user-data comes from (cmdline, NoCloud, config drive, EC2, URL, file).
