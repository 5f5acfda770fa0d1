// The names `criu check --feature NAME` knows: CRIU 4.2's (cr-check.c feature_list), which
// callers such as runc, podman and the zdtm runner ask for, and the extra probes of criu-ts.
// CRIU rejects any other name on every command, at parse time ("Unknown feature NAME").
export const CRIU_FEATURES = [
  'mnt_id', 'mem_dirty_track', 'aio_remap', 'timerfd', 'tun', 'tun_ns', 'userns', 'fdinfo_lock', 'seccomp_suspend',
  'seccomp_filters', 'loginuid', 'cgroupns', 'autofs', 'tcp_half_closed', 'compat_cr', 'uffd', 'uffd-noncoop',
  'can_map_vdso', 'sk_ns', 'sk_unix_file', 'net_diag_raw', 'nsid', 'link_nsid', 'kcmp_epoll', 'timens',
  'external_net_ns', 'clone3_set_tid', 'newifindex', 'nftables', 'has_ipt_legacy', 'pidfd_store', 'ns_pid',
  'apparmor_stacking', 'network_lock_nftables', 'sockopt_buf_lock', 'memfd_hugetlb', 'move_mount_set_group',
  'openat2', 'get_rseq_conf', 'ipv6_freebind', 'pagemap_scan', 'timer_cr_ids', 'overlayfs_maps', 'breakpoints',
  'pagemap_scan_guard_pages',
] as const;

/** probes of criu-ts that CRIU does not have */
export const OWN_FEATURES = ['ptrace_seize', 'pidfd_getfd', 'kcmp', 'mm_map', 'uffd_wp_async', 'gdt_tls', 'no_new_privs'] as const;

export const isFeatureName = (n: string): boolean => (CRIU_FEATURES as readonly string[]).includes(n) || (OWN_FEATURES as readonly string[]).includes(n);
