/*
 * mail_params_readers - which Postfix 3.7 programs read each parameter
 *
 * What it does: PROGRAM_READS lists, per Postfix program (named as Postfix
 * names them: 'smtpd', 'cleanup', 'qmgr', 'smtp', 'lmtp', 'postdrop', ...),
 * the main.cf parameter names that program reads, and paramReaders(name)
 * inverts that into the `readers` of the parameter table (mail_params.ts).
 * The special reader 'global' stands for mail_params_init() in Postfix's
 * src/global/mail_params.c, which every Postfix program (daemon or
 * command) runs at start-up: a name under 'global' is read by all of them
 * and is not repeated under the individual programs.
 *
 * Where the facts come from: Postfix 3.7.11 (the Debian build that is our
 * oracle). A program reads a parameter when its own code names it: the
 * VAR_* entries of the CONFIG_{INT,STR,TIME,BOOL,RAW,NINT,NBOOL,LONG}_TABLE
 * arrays it hands to its server skeleton (src/smtpd/smtpd.c,
 * src/cleanup/cleanup_init.c, src/qmgr/qmgr.c, src/smtp/smtp.c, ...) plus
 * direct get_mail_conf_*() calls in src/<program>/*.c. These lists were
 * taken from the 3.7.11 programs themselves: every parameter-name string
 * that the code or the tables of /usr/lib/postfix/sbin/<daemon> and
 * /usr/sbin/<command> point at (relocations and RIP-relative loads,
 * followed to the exact string so that tail-merged names such as
 * "alias_maps" inside "virtual_alias_maps" are not missed), and spot-checked
 * against the source tables (vdukhovni/postfix). Library code is credited
 * to the programs that call it:
 * - 'global': the tables of mail_params_init() (one contiguous block in
 *   libpostfix-global), process_id (which it sets in every program) and
 *   config_directory (mail_conf_suck()); the names it only looks up for
 *   compatibility_level warnings (append_dot_mydomain,
 *   smtpd_relay_restrictions, *_tls_fingerprint_digest, ...) are
 *   credited to the programs that use their values;
 * - the server skeletons (libpostfix-master: max_idle, max_use,
 *   process_name, service_name, debugger_command) to every daemon;
 * - tls_param_init() (libpostfix-tls: tls_* and tlsmgr_service_name) to
 *   smtp, lmtp, smtpd, tlsproxy and posttls-finger, its callers;
 * - mbox_lock_mask() (mailbox_delivery_lock) to local, virtual, postlock;
 *   make_verify_sender_addr() (address_verify_sender) to verify.
 * smtp and lmtp are one binary; as in src/smtp/smtp_params.c, smtp reads
 * the smtp_* names and lmtp the lmtp_* names (and both the others).
 * qmgr is also installed as nqmgr (same program, listed once). The shell
 * scripts (post-install, postfix-tls-script, postmulti-script) are listed
 * with the names in their non-comment lines (variables exported by the
 * postfix command, postconf -h lookups, postconf -e edits); postconf
 * itself knows every name and is not listed. postalias, postcat, postlog,
 * postmap, postfix-script and postfix-wrapper use only 'global' names, so
 * they have no list of their own.
 *
 * How to refresh (new Postfix release): for each program file, list the
 * parameter names its code references, e.g. follow `readelf -rW`
 * R_X86_64_RELATIVE addends and `objdump -d` RIP-relative targets into
 * .rodata and keep the strings that are names in MAIL_PARAMS; or read the
 * CONFIG_*_TABLE arrays in the program's main file and map VAR_* to names
 * with src/global/mail_params.h. Then run mail_params_readers_test, which
 * fails on any name that is not a 3.7 parameter and on a parameter that
 * no program reads.
 *
 * serviceParamReaders() does the same for the per-service names a
 * master.cf creates (relay_destination_concurrency_limit: qmgr, oqmgr;
 * uucp_time_limit: pipe), from the suffixes the same programs reference.
 *
 * What it does not do: list the per-service or per-map-type (ldap_,
 * mysql_, ...) names themselves, or say how a program uses a name.
 *
 * DIAGNOSTICS
 * None; pure data and functions.
 */

/** The reader that stands for every Postfix program (mail_params_init()). */
export const GLOBAL_READER = 'global';

/** Per program, the parameter names it reads, white-space separated. */
const PROGRAM_READS_TEXT: Readonly<Record<string, string>> = {
  global: `
    address_verify_negative_cache address_verify_service_name alias_database alternate_config_directories
    application_event_drain_time backwards_bounce_logfile_compatibility berkeley_db_create_buffer_size
    berkeley_db_read_buffer_size bounce_service_name cleanup_service_name command_directory
    compatibility_level config_directory daemon_directory daemon_table_open_error_is_fatal daemon_timeout
    data_directory debug_peer_level debug_peer_list default_database_type default_delivery_status_filter
    default_privs default_process_limit default_verp_delimiters defer_service_name
    delay_logging_resolution_limit deliver_lock_attempts deliver_lock_delay disable_dns_lookups
    disable_mime_input_processing disable_mime_output_conversion dns_ncache_ttl_fix_enable dnssec_probe
    dont_remove double_bounce_sender enable_idna2003_compatibility enable_long_queue_ids
    enable_original_recipient error_service_name export_environment fast_flush_domains fault_injection_code
    flush_service_name fork_attempts fork_delay hash_queue_depth hash_queue_names header_address_token_limit
    header_size_limit helpful_warnings import_environment in_flow_delay inet_interfaces inet_protocols
    info_log_address_format internal_mail_filter_classes ipc_idle ipc_timeout ipc_ttl known_tcp_ports
    line_length_limit lmdb_map_size mail_name mail_owner mail_release_date mail_version maillog_file
    maillog_file_compressor maillog_file_prefixes maillog_file_rotate_suffix max_idle max_use
    message_drop_headers message_size_limit meta_directory mime_boundary_length_limit mime_nesting_limit
    multi_instance_directories multi_instance_enable multi_instance_group multi_instance_name
    multi_instance_wrapper mydestination mydomain myhostname mynetworks mynetworks_style myorigin
    owner_request_special parent_domain_matches_subdomains pickup_service_name postlog_service_name process_id
    process_id_directory proxy_interfaces proxymap_service_name proxywrite_service_name queue_directory
    queue_service_name recipient_delimiter relay_domains relayhost respectful_logging rewrite_service_name
    send_cyrus_sasl_authzid setgid_group shlib_directory showq_service_name smtputf8_autodetect_classes
    smtputf8_enable soft_bounce stale_lock_time strict_7bit_headers strict_8bitmime strict_8bitmime_body
    strict_mime_encoding_domain strict_smtputf8 syslog_facility syslog_name tcp_windowsize trace_service_name
    trigger_timeout verp_delimiter_filter
  `,
  anvil: `
    anvil_rate_time_unit anvil_status_update_time debugger_command process_name service_name
  `,
  bounce: `
    2bounce_notice_recipient bounce_notice_recipient bounce_size_limit bounce_template_file debugger_command
    delay_notice_recipient delay_warning_time enable_threaded_bounces header_from_format
    maximal_queue_lifetime notify_classes process_name service_name
  `,
  cleanup: `
    always_add_missing_headers always_bcc body_checks body_checks_size_limit canonical_classes canonical_maps
    cleanup_replace_stray_cr_lf debugger_command delay_warning_time detect_8bit_encoding_header
    disable_verp_bounces duplicate_filter_limit empty_address_recipient header_checks header_from_format
    hopcount_limit masquerade_classes masquerade_domains masquerade_exceptions message_reject_characters
    message_strip_characters milter_command_timeout milter_connect_macros milter_connect_timeout
    milter_content_timeout milter_data_macros milter_default_action milter_end_of_data_macros
    milter_end_of_header_macros milter_header_checks milter_helo_macros milter_macro_daemon_name
    milter_macro_defaults milter_macro_v milter_mail_macros milter_protocol milter_rcpt_macros
    milter_unknown_command_macros mime_header_checks nested_header_checks non_smtpd_milters process_name
    propagate_unmatched_extensions queue_file_attribute_count_limit recipient_bcc_maps
    recipient_canonical_classes recipient_canonical_maps remote_header_rewrite_domain sender_bcc_maps
    sender_canonical_classes sender_canonical_maps service_name undisclosed_recipients_header
    virtual_alias_address_length_limit virtual_alias_expansion_limit virtual_alias_maps
    virtual_alias_recursion_limit
  `,
  discard: `
    debugger_command process_name service_name
  `,
  dnsblog: `
    debugger_command dnsblog_reply_delay process_name service_name
  `,
  error: `
    debugger_command process_name service_name
  `,
  flush: `
    debugger_command fast_flush_purge_time fast_flush_refresh_time process_name service_name
  `,
  lmtp: `
    best_mx_transport connection_cache_protocol_timeout connection_cache_service_name cyrus_sasl_config_path
    debugger_command error_notice_recipient header_from_format ignore_mx_lookup_error lmtp_address_preference
    lmtp_address_verify_target lmtp_assume_final lmtp_balance_inet_protocols lmtp_bind_address
    lmtp_bind_address6 lmtp_bind_address_enforce lmtp_body_checks lmtp_cname_overrides_servername
    lmtp_connect_timeout lmtp_connection_cache_destinations lmtp_connection_cache_on_demand
    lmtp_connection_cache_time_limit lmtp_connection_reuse_count_limit lmtp_connection_reuse_time_limit
    lmtp_data_done_timeout lmtp_data_init_timeout lmtp_data_xfer_timeout lmtp_defer_if_no_mx_address_found
    lmtp_delivery_status_filter lmtp_discard_lhlo_keyword_address_maps lmtp_discard_lhlo_keywords
    lmtp_dns_reply_filter lmtp_dns_resolver_options lmtp_dns_support_level lmtp_enforce_tls
    lmtp_fallback_relay lmtp_generic_maps lmtp_header_checks lmtp_host_lookup lmtp_lhlo_name lmtp_lhlo_timeout
    lmtp_line_length_limit lmtp_mail_timeout lmtp_mime_header_checks lmtp_min_data_rate lmtp_mx_address_limit
    lmtp_mx_session_limit lmtp_nested_header_checks lmtp_per_request_deadline lmtp_pix_workaround_delay_time
    lmtp_pix_workaround_maps lmtp_pix_workaround_threshold_time lmtp_pix_workarounds lmtp_quit_timeout
    lmtp_quote_rfc821_envelope lmtp_randomize_addresses lmtp_rcpt_timeout lmtp_reply_filter lmtp_rset_timeout
    lmtp_sasl_auth_cache_name lmtp_sasl_auth_cache_time lmtp_sasl_auth_enable lmtp_sasl_auth_soft_bounce
    lmtp_sasl_mechanism_filter lmtp_sasl_password_maps lmtp_sasl_path lmtp_sasl_security_options
    lmtp_sasl_tls_security_options lmtp_sasl_tls_verified_security_options lmtp_sasl_type
    lmtp_send_dummy_mail_auth lmtp_send_xforward_command lmtp_sender_dependent_authentication
    lmtp_skip_5xx_greeting lmtp_skip_quit_response lmtp_starttls_timeout lmtp_tcp_port lmtp_tls_CAfile
    lmtp_tls_CApath lmtp_tls_block_early_mail_reply lmtp_tls_cert_file lmtp_tls_chain_files lmtp_tls_ciphers
    lmtp_tls_connection_reuse lmtp_tls_dcert_file lmtp_tls_dkey_file lmtp_tls_eccert_file lmtp_tls_eckey_file
    lmtp_tls_enforce_peername lmtp_tls_exclude_ciphers lmtp_tls_fingerprint_cert_match
    lmtp_tls_fingerprint_digest lmtp_tls_force_insecure_host_tlsa_lookup lmtp_tls_key_file lmtp_tls_loglevel
    lmtp_tls_mandatory_ciphers lmtp_tls_mandatory_exclude_ciphers lmtp_tls_mandatory_protocols
    lmtp_tls_note_starttls_offer lmtp_tls_per_site lmtp_tls_policy_maps lmtp_tls_protocols
    lmtp_tls_scert_verifydepth lmtp_tls_secure_cert_match lmtp_tls_security_level lmtp_tls_servername
    lmtp_tls_trust_anchor_file lmtp_tls_verify_cert_match lmtp_tls_wrappermode lmtp_use_tls
    lmtp_xforward_timeout minimal_backoff_time notify_classes openssl_path process_name
    propagate_unmatched_extensions queue_run_delay service_name tls_append_default_CA tls_config_file
    tls_config_name tls_daemon_random_bytes tls_dane_digests tls_disable_workarounds tls_eecdh_auto_curves
    tls_eecdh_strong_curve tls_eecdh_ultra_curve tls_export_cipherlist tls_fast_shutdown_enable
    tls_high_cipherlist tls_legacy_public_key_fingerprints tls_low_cipherlist tls_medium_cipherlist
    tls_null_cipherlist tls_preempt_cipherlist tls_server_sni_maps tls_session_ticket_cipher tls_ssl_options
    tls_wildcard_matches_multiple_labels tlsmgr_service_name tlsproxy_service_name
  `,
  local: `
    alias_maps allow_mail_to_commands allow_mail_to_files biff command_execution_directory
    command_expansion_filter command_time_limit debugger_command duplicate_filter_limit
    execution_directory_expansion_filter expand_owner_alias fallback_transport fallback_transport_maps
    forward_expansion_filter forward_path frozen_delivered_to home_mailbox local_command_shell
    local_delivery_status_filter luser_relay mail_spool_directory mailbox_command mailbox_command_maps
    mailbox_delivery_lock mailbox_size_limit mailbox_transport mailbox_transport_maps prepend_delivered_header
    process_name propagate_unmatched_extensions require_home_directory reset_owner_alias service_name
    strict_mailbox_ownership sun_mailtool_compatibility
  `,
  master: `
    debugger_command master_service_disable process_name service_throttle_time
  `,
  oqmgr: `
    address_verify_pending_request_limit bounce_queue_lifetime confirm_delay_cleared debugger_command
    default_destination_concurrency_failed_cohort_limit default_destination_concurrency_limit
    default_destination_concurrency_negative_feedback default_destination_concurrency_positive_feedback
    default_destination_rate_delay default_destination_recipient_limit default_filter_nexthop
    default_transport_rate_delay defer_transports destination_concurrency_feedback_debug disable_verp_bounces
    initial_destination_concurrency local_destination_concurrency_limit local_destination_recipient_limit
    maximal_backoff_time maximal_queue_lifetime minimal_backoff_time process_name qmgr_clog_warn_time
    qmgr_daemon_timeout qmgr_fudge_factor qmgr_ipc_timeout qmgr_message_active_limit
    qmgr_message_recipient_limit queue_run_delay service_name transport_retry_time
  `,
  pickup: `
    content_filter debugger_command process_name receive_override_options service_name
  `,
  pipe: `
    command_time_limit debugger_command pipe_delivery_status_filter process_name service_name
  `,
  'post-install': `
    html_directory mailq_path manpage_directory newaliases_path readme_directory sample_directory
    sendmail_path
  `,
  postdrop: `
    authorized_submit_users empty_address_local_login_sender_maps_lookup_key local_login_sender_maps
    process_name
  `,
  postfix: `
    html_directory mailq_path manpage_directory newaliases_path readme_directory sample_directory
    sendmail_path
  `,
  'postfix-tls-script': `
    openssl_path smtp_enforce_tls smtp_tls_cert_file smtp_tls_dcert_file smtp_tls_eccert_file
    smtp_tls_enforce_peername smtp_tls_loglevel smtp_tls_security_level smtp_tls_session_cache_database
    smtp_use_tls smtpd_enforce_tls smtpd_tls_cert_file smtpd_tls_dcert_file smtpd_tls_eccert_file
    smtpd_tls_eckey_file smtpd_tls_key_file smtpd_tls_loglevel smtpd_tls_received_header
    smtpd_tls_security_level smtpd_use_tls tls_random_source
  `,
  postkick: `
    process_name
  `,
  postlock: `
    mailbox_delivery_lock
  `,
  postlogd: `
    debugger_command postlogd_watchdog_timeout process_name service_name
  `,
  postmulti: `
    postmulti_control_commands postmulti_start_commands postmulti_stop_commands
  `,
  'postmulti-script': `
    authorized_submit_users html_directory mailq_path manpage_directory master_service_disable newaliases_path
    readme_directory sample_directory sendmail_path
  `,
  postqueue: `
    authorized_flush_users authorized_mailq_users process_name
  `,
  postscreen: `
    debugger_command disable_vrfy_command dnsblog_service_name postscreen_access_list
    postscreen_allowlist_interfaces postscreen_bare_newline_action postscreen_bare_newline_enable
    postscreen_bare_newline_ttl postscreen_cache_cleanup_interval postscreen_cache_map
    postscreen_cache_retention_time postscreen_client_connection_count_limit postscreen_command_count_limit
    postscreen_command_filter postscreen_command_time_limit postscreen_denylist_action
    postscreen_disable_vrfy_command postscreen_discard_ehlo_keyword_address_maps
    postscreen_discard_ehlo_keywords postscreen_dnsbl_action postscreen_dnsbl_allowlist_threshold
    postscreen_dnsbl_max_ttl postscreen_dnsbl_min_ttl postscreen_dnsbl_reply_map postscreen_dnsbl_sites
    postscreen_dnsbl_threshold postscreen_dnsbl_timeout postscreen_enforce_tls postscreen_expansion_filter
    postscreen_forbidden_commands postscreen_greet_action postscreen_greet_banner postscreen_greet_ttl
    postscreen_greet_wait postscreen_helo_required postscreen_non_smtp_command_action
    postscreen_non_smtp_command_enable postscreen_non_smtp_command_ttl postscreen_pipelining_action
    postscreen_pipelining_enable postscreen_pipelining_ttl postscreen_post_queue_limit
    postscreen_pre_queue_limit postscreen_reject_footer postscreen_reject_footer_maps
    postscreen_tls_security_level postscreen_upstream_proxy_protocol postscreen_upstream_proxy_timeout
    postscreen_use_tls postscreen_watchdog_timeout process_name service_name smtpd_banner
    smtpd_client_connection_count_limit smtpd_command_filter smtpd_discard_ehlo_keyword_address_maps
    smtpd_discard_ehlo_keywords smtpd_enforce_tls smtpd_expansion_filter smtpd_forbidden_commands
    smtpd_helo_required smtpd_reject_footer smtpd_reject_footer_maps smtpd_service_name
    smtpd_tls_security_level smtpd_use_tls stress tlsproxy_service_name
  `,
  postsuper: `
    process_name
  `,
  'posttls-finger': `
    openssl_path process_name smtp_tls_fingerprint_digest tls_append_default_CA tls_config_file
    tls_config_name tls_daemon_random_bytes tls_dane_digests tls_disable_workarounds tls_eecdh_auto_curves
    tls_eecdh_strong_curve tls_eecdh_ultra_curve tls_export_cipherlist tls_fast_shutdown_enable
    tls_high_cipherlist tls_legacy_public_key_fingerprints tls_low_cipherlist tls_medium_cipherlist
    tls_null_cipherlist tls_preempt_cipherlist tls_server_sni_maps tls_session_ticket_cipher tls_ssl_options
    tls_wildcard_matches_multiple_labels tlsmgr_service_name
  `,
  proxymap: `
    address_verify_map alias_maps canonical_maps debugger_command local_recipient_maps postscreen_cache_map
    process_name proxy_read_maps proxy_write_maps recipient_canonical_maps relay_recipient_maps relocated_maps
    sender_canonical_maps service_name smtpd_sender_login_maps transport_maps virtual_alias_domains
    virtual_alias_maps virtual_mailbox_domains virtual_mailbox_maps
  `,
  qmgr: `
    address_verify_pending_request_limit bounce_queue_lifetime confirm_delay_cleared debugger_command
    default_delivery_slot_cost default_delivery_slot_discount default_delivery_slot_loan
    default_destination_concurrency_failed_cohort_limit default_destination_concurrency_limit
    default_destination_concurrency_negative_feedback default_destination_concurrency_positive_feedback
    default_destination_rate_delay default_destination_recipient_limit default_extra_recipient_limit
    default_filter_nexthop default_minimum_delivery_slots default_recipient_limit
    default_recipient_refill_delay default_recipient_refill_limit default_transport_rate_delay
    defer_transports destination_concurrency_feedback_debug disable_verp_bounces
    initial_destination_concurrency local_destination_concurrency_limit local_destination_recipient_limit
    maximal_backoff_time maximal_queue_lifetime minimal_backoff_time process_name qmgr_clog_warn_time
    qmgr_daemon_timeout qmgr_ipc_timeout qmgr_message_active_limit qmgr_message_recipient_limit
    qmgr_message_recipient_minimum queue_run_delay service_name transport_retry_time
  `,
  qmqpd: `
    content_filter debugger_command process_name qmqpd_authorized_clients qmqpd_client_port_logging
    qmqpd_error_delay qmqpd_timeout receive_override_options service_name
  `,
  scache: `
    connection_cache_status_update_time connection_cache_ttl_limit debugger_command process_name service_name
  `,
  sendmail: `
    authorized_submit_users debugger_command process_name sendmail_fix_line_endings
  `,
  showq: `
    debugger_command duplicate_filter_limit empty_address_recipient process_name service_name
  `,
  smtp: `
    best_mx_transport connection_cache_protocol_timeout connection_cache_service_name cyrus_sasl_config_path
    debugger_command error_notice_recipient header_from_format ignore_mx_lookup_error minimal_backoff_time
    notify_classes openssl_path process_name propagate_unmatched_extensions queue_run_delay service_name
    smtp_address_preference smtp_address_verify_target smtp_always_send_ehlo smtp_balance_inet_protocols
    smtp_bind_address smtp_bind_address6 smtp_bind_address_enforce smtp_body_checks
    smtp_cname_overrides_servername smtp_connect_timeout smtp_connection_cache_destinations
    smtp_connection_cache_on_demand smtp_connection_cache_time_limit smtp_connection_reuse_count_limit
    smtp_connection_reuse_time_limit smtp_data_done_timeout smtp_data_init_timeout smtp_data_xfer_timeout
    smtp_defer_if_no_mx_address_found smtp_delivery_status_filter smtp_discard_ehlo_keyword_address_maps
    smtp_discard_ehlo_keywords smtp_dns_reply_filter smtp_dns_resolver_options smtp_dns_support_level
    smtp_enforce_tls smtp_fallback_relay smtp_generic_maps smtp_header_checks smtp_helo_name smtp_helo_timeout
    smtp_host_lookup smtp_line_length_limit smtp_mail_timeout smtp_mime_header_checks smtp_min_data_rate
    smtp_mx_address_limit smtp_mx_session_limit smtp_nested_header_checks smtp_never_send_ehlo
    smtp_per_request_deadline smtp_pix_workaround_delay_time smtp_pix_workaround_maps
    smtp_pix_workaround_threshold_time smtp_pix_workarounds smtp_quit_timeout smtp_quote_rfc821_envelope
    smtp_randomize_addresses smtp_rcpt_timeout smtp_reply_filter smtp_rset_timeout smtp_sasl_auth_cache_name
    smtp_sasl_auth_cache_time smtp_sasl_auth_enable smtp_sasl_auth_soft_bounce smtp_sasl_mechanism_filter
    smtp_sasl_password_maps smtp_sasl_path smtp_sasl_security_options smtp_sasl_tls_security_options
    smtp_sasl_tls_verified_security_options smtp_sasl_type smtp_send_dummy_mail_auth
    smtp_send_xforward_command smtp_sender_dependent_authentication smtp_skip_5xx_greeting
    smtp_skip_quit_response smtp_starttls_timeout smtp_tcp_port smtp_tls_CAfile smtp_tls_CApath
    smtp_tls_block_early_mail_reply smtp_tls_cert_file smtp_tls_chain_files smtp_tls_ciphers
    smtp_tls_connection_reuse smtp_tls_dane_insecure_mx_policy smtp_tls_dcert_file smtp_tls_dkey_file
    smtp_tls_eccert_file smtp_tls_eckey_file smtp_tls_enforce_peername smtp_tls_exclude_ciphers
    smtp_tls_fingerprint_cert_match smtp_tls_fingerprint_digest smtp_tls_force_insecure_host_tlsa_lookup
    smtp_tls_key_file smtp_tls_loglevel smtp_tls_mandatory_ciphers smtp_tls_mandatory_exclude_ciphers
    smtp_tls_mandatory_protocols smtp_tls_note_starttls_offer smtp_tls_per_site smtp_tls_policy_maps
    smtp_tls_protocols smtp_tls_scert_verifydepth smtp_tls_secure_cert_match smtp_tls_security_level
    smtp_tls_servername smtp_tls_trust_anchor_file smtp_tls_verify_cert_match smtp_tls_wrappermode
    smtp_use_tls smtp_xforward_timeout tls_append_default_CA tls_config_file tls_config_name
    tls_daemon_random_bytes tls_dane_digests tls_disable_workarounds tls_eecdh_auto_curves
    tls_eecdh_strong_curve tls_eecdh_ultra_curve tls_export_cipherlist tls_fast_shutdown_enable
    tls_high_cipherlist tls_legacy_public_key_fingerprints tls_low_cipherlist tls_medium_cipherlist
    tls_null_cipherlist tls_preempt_cipherlist tls_server_sni_maps tls_session_ticket_cipher tls_ssl_options
    tls_wildcard_matches_multiple_labels tlsmgr_service_name tlsproxy_service_name
  `,
  smtpd: `
    access_map_defer_code access_map_reject_code address_verify_poll_count address_verify_poll_delay
    address_verify_sender address_verify_sender_ttl alias_maps allow_untrusted_routing bounce_notice_recipient
    broken_sasl_auth_clients canonical_maps content_filter cyrus_sasl_config_path debugger_command
    default_rbl_reply defer_code disable_vrfy_command error_notice_recipient header_from_format
    invalid_hostname_reject_code local_header_rewrite_clients local_recipient_maps maps_rbl_domains
    maps_rbl_reject_code milter_command_timeout milter_connect_macros milter_connect_timeout
    milter_content_timeout milter_data_macros milter_default_action milter_end_of_data_macros
    milter_end_of_header_macros milter_helo_macros milter_macro_daemon_name milter_macro_defaults
    milter_macro_v milter_mail_macros milter_protocol milter_rcpt_macros milter_unknown_command_macros
    multi_recipient_bounce_reject_code non_fqdn_reject_code notify_classes openssl_path
    permit_mx_backup_networks plaintext_reject_code process_name queue_minfree rbl_reply_maps
    receive_override_options recipient_canonical_maps reject_code reject_tempfail_action relay_clientcerts
    relay_domains_reject_code relay_recipient_maps sender_canonical_maps service_name
    show_user_unknown_table_name smtpd_authorized_verp_clients smtpd_authorized_xclient_hosts
    smtpd_authorized_xforward_hosts smtpd_banner smtpd_client_auth_rate_limit
    smtpd_client_connection_count_limit smtpd_client_connection_rate_limit smtpd_client_event_limit_exceptions
    smtpd_client_message_rate_limit smtpd_client_new_tls_session_rate_limit smtpd_client_port_logging
    smtpd_client_recipient_rate_limit smtpd_client_restrictions smtpd_command_filter smtpd_data_restrictions
    smtpd_delay_open_until_valid_rcpt smtpd_delay_reject smtpd_discard_ehlo_keyword_address_maps
    smtpd_discard_ehlo_keywords smtpd_dns_reply_filter smtpd_end_of_data_restrictions smtpd_enforce_tls
    smtpd_error_sleep_time smtpd_etrn_restrictions smtpd_expansion_filter smtpd_forbid_bare_newline
    smtpd_forbid_bare_newline_exclusions smtpd_forbid_bare_newline_reject_code smtpd_forbid_unauth_pipelining
    smtpd_forbidden_commands smtpd_hard_error_limit smtpd_helo_required smtpd_helo_restrictions
    smtpd_history_flush_threshold smtpd_junk_command_limit smtpd_log_access_permit_actions smtpd_milter_maps
    smtpd_milters smtpd_min_data_rate smtpd_noop_commands smtpd_null_access_lookup_key smtpd_peername_lookup
    smtpd_per_request_deadline smtpd_policy_service_default_action smtpd_policy_service_max_idle
    smtpd_policy_service_max_ttl smtpd_policy_service_policy_context smtpd_policy_service_request_limit
    smtpd_policy_service_retry_delay smtpd_policy_service_timeout smtpd_policy_service_try_limit
    smtpd_proxy_ehlo smtpd_proxy_filter smtpd_proxy_options smtpd_proxy_timeout smtpd_recipient_limit
    smtpd_recipient_overshoot_limit smtpd_recipient_restrictions smtpd_reject_footer smtpd_reject_footer_maps
    smtpd_reject_unlisted_recipient smtpd_reject_unlisted_sender smtpd_relay_before_recipient_restrictions
    smtpd_relay_restrictions smtpd_restriction_classes smtpd_sasl_auth_enable smtpd_sasl_authenticated_header
    smtpd_sasl_exceptions_networks smtpd_sasl_local_domain smtpd_sasl_mechanism_filter smtpd_sasl_path
    smtpd_sasl_response_limit smtpd_sasl_security_options smtpd_sasl_service smtpd_sasl_tls_security_options
    smtpd_sasl_type smtpd_sender_login_maps smtpd_sender_restrictions smtpd_soft_error_limit
    smtpd_starttls_timeout smtpd_timeout smtpd_tls_CAfile smtpd_tls_CApath smtpd_tls_always_issue_session_ids
    smtpd_tls_ask_ccert smtpd_tls_auth_only smtpd_tls_ccert_verifydepth smtpd_tls_cert_file
    smtpd_tls_chain_files smtpd_tls_ciphers smtpd_tls_dcert_file smtpd_tls_dh1024_param_file
    smtpd_tls_dh512_param_file smtpd_tls_dkey_file smtpd_tls_eccert_file smtpd_tls_eckey_file
    smtpd_tls_eecdh_grade smtpd_tls_exclude_ciphers smtpd_tls_fingerprint_digest smtpd_tls_key_file
    smtpd_tls_loglevel smtpd_tls_mandatory_ciphers smtpd_tls_mandatory_exclude_ciphers
    smtpd_tls_mandatory_protocols smtpd_tls_protocols smtpd_tls_received_header smtpd_tls_req_ccert
    smtpd_tls_security_level smtpd_tls_wrappermode smtpd_upstream_proxy_protocol smtpd_upstream_proxy_timeout
    smtpd_use_tls stress strict_rfc821_envelopes tls_append_default_CA tls_config_file tls_config_name
    tls_daemon_random_bytes tls_dane_digests tls_disable_workarounds tls_eecdh_auto_curves
    tls_eecdh_strong_curve tls_eecdh_ultra_curve tls_export_cipherlist tls_fast_shutdown_enable
    tls_high_cipherlist tls_legacy_public_key_fingerprints tls_low_cipherlist tls_medium_cipherlist
    tls_null_cipherlist tls_preempt_cipherlist tls_server_sni_maps tls_session_ticket_cipher tls_ssl_options
    tls_wildcard_matches_multiple_labels tlsmgr_service_name unknown_address_reject_code
    unknown_address_tempfail_action unknown_client_reject_code unknown_helo_hostname_tempfail_action
    unknown_hostname_reject_code unknown_local_recipient_reject_code unknown_relay_recipient_reject_code
    unknown_virtual_alias_reject_code unknown_virtual_mailbox_reject_code unverified_recipient_defer_code
    unverified_recipient_reject_code unverified_recipient_reject_reason unverified_recipient_tempfail_action
    unverified_sender_defer_code unverified_sender_reject_code unverified_sender_reject_reason
    unverified_sender_tempfail_action virtual_alias_maps virtual_mailbox_maps
  `,
  spawn: `
    command_time_limit debugger_command process_name service_name
  `,
  tlsmgr: `
    debugger_command lmtp_tls_loglevel lmtp_tls_session_cache_database lmtp_tls_session_cache_timeout
    process_name service_name smtp_tls_loglevel smtp_tls_session_cache_database smtp_tls_session_cache_timeout
    smtpd_tls_loglevel smtpd_tls_session_cache_database smtpd_tls_session_cache_timeout tls_random_bytes
    tls_random_exchange_name tls_random_prng_update_period tls_random_reseed_period tls_random_source
  `,
  tlsproxy: `
    debugger_command openssl_path process_name service_name smtp_enforce_tls smtp_tls_CAfile smtp_tls_CApath
    smtp_tls_cert_file smtp_tls_chain_files smtp_tls_dcert_file smtp_tls_dkey_file smtp_tls_eccert_file
    smtp_tls_eckey_file smtp_tls_fingerprint_digest smtp_tls_key_file smtp_tls_loglevel smtp_tls_per_site
    smtp_tls_policy_maps smtp_tls_scert_verifydepth smtp_tls_security_level smtp_use_tls smtpd_enforce_tls
    smtpd_tls_CAfile smtpd_tls_CApath smtpd_tls_always_issue_session_ids smtpd_tls_ask_ccert
    smtpd_tls_ccert_verifydepth smtpd_tls_cert_file smtpd_tls_chain_files smtpd_tls_ciphers
    smtpd_tls_dcert_file smtpd_tls_dh1024_param_file smtpd_tls_dh512_param_file smtpd_tls_dkey_file
    smtpd_tls_eccert_file smtpd_tls_eckey_file smtpd_tls_eecdh_grade smtpd_tls_exclude_ciphers
    smtpd_tls_fingerprint_digest smtpd_tls_key_file smtpd_tls_loglevel smtpd_tls_mandatory_ciphers
    smtpd_tls_mandatory_exclude_ciphers smtpd_tls_mandatory_protocols smtpd_tls_protocols smtpd_tls_req_ccert
    smtpd_tls_security_level smtpd_use_tls tls_append_default_CA tls_config_file tls_config_name
    tls_daemon_random_bytes tls_dane_digests tls_disable_workarounds tls_eecdh_auto_curves
    tls_eecdh_strong_curve tls_eecdh_ultra_curve tls_export_cipherlist tls_fast_shutdown_enable
    tls_high_cipherlist tls_legacy_public_key_fingerprints tls_low_cipherlist tls_medium_cipherlist
    tls_null_cipherlist tls_preempt_cipherlist tls_server_sni_maps tls_session_ticket_cipher tls_ssl_options
    tls_wildcard_matches_multiple_labels tlsmgr_service_name tlsproxy_client_CAfile tlsproxy_client_CApath
    tlsproxy_client_cert_file tlsproxy_client_chain_files tlsproxy_client_dcert_file tlsproxy_client_dkey_file
    tlsproxy_client_eccert_file tlsproxy_client_eckey_file tlsproxy_client_enforce_tls
    tlsproxy_client_fingerprint_digest tlsproxy_client_key_file tlsproxy_client_loglevel
    tlsproxy_client_loglevel_parameter tlsproxy_client_per_site tlsproxy_client_policy_maps
    tlsproxy_client_scert_verifydepth tlsproxy_client_security_level tlsproxy_client_use_tls
    tlsproxy_enforce_tls tlsproxy_tls_CAfile tlsproxy_tls_CApath tlsproxy_tls_always_issue_session_ids
    tlsproxy_tls_ask_ccert tlsproxy_tls_ccert_verifydepth tlsproxy_tls_cert_file tlsproxy_tls_chain_files
    tlsproxy_tls_ciphers tlsproxy_tls_dcert_file tlsproxy_tls_dh1024_param_file tlsproxy_tls_dh512_param_file
    tlsproxy_tls_dkey_file tlsproxy_tls_eccert_file tlsproxy_tls_eckey_file tlsproxy_tls_eecdh_grade
    tlsproxy_tls_exclude_ciphers tlsproxy_tls_fingerprint_digest tlsproxy_tls_key_file tlsproxy_tls_loglevel
    tlsproxy_tls_mandatory_ciphers tlsproxy_tls_mandatory_exclude_ciphers tlsproxy_tls_mandatory_protocols
    tlsproxy_tls_protocols tlsproxy_tls_req_ccert tlsproxy_tls_security_level tlsproxy_use_tls
    tlsproxy_watchdog_timeout
  `,
  'trivial-rewrite': `
    address_verify_default_transport address_verify_local_transport address_verify_relay_transport
    address_verify_relayhost address_verify_sender_dependent_default_transport_maps
    address_verify_sender_dependent_relayhost_maps address_verify_transport_maps
    address_verify_virtual_transport allow_min_user allow_percent_hack append_at_myorigin append_dot_mydomain
    debugger_command default_transport empty_address_default_transport_maps_lookup_key empty_address_recipient
    empty_address_relayhost_maps_lookup_key local_transport process_name relay_transport relocated_maps
    remote_header_rewrite_domain resolve_dequoted_address resolve_null_domain resolve_numeric_domain
    sender_dependent_default_transport_maps sender_dependent_relayhost_maps service_name
    show_user_unknown_table_name swap_bangpath transport_maps virtual_alias_domains virtual_alias_maps
    virtual_mailbox_domains virtual_mailbox_maps virtual_transport
  `,
  verify: `
    address_verify_cache_cleanup_interval address_verify_map address_verify_negative_expire_time
    address_verify_negative_refresh_time address_verify_positive_expire_time
    address_verify_positive_refresh_time address_verify_sender address_verify_sender_ttl debugger_command
    process_name service_name
  `,
  virtual: `
    debugger_command mail_spool_directory mailbox_delivery_lock process_name service_name
    strict_mailbox_ownership virtual_delivery_status_filter virtual_gid_maps virtual_mailbox_base
    virtual_mailbox_limit virtual_mailbox_lock virtual_mailbox_maps virtual_minimum_uid virtual_uid_maps
  `,
};

function splitNames(text: string): readonly string[] {
  return Object.freeze(text.split(/\s+/).filter((w) => w !== ''));
}

/** Per program ('global' first), the parameter names it reads. */
export const PROGRAM_READS: ReadonlyMap<string, readonly string[]> = new Map(
  Object.entries(PROGRAM_READS_TEXT).map(([program, text]) => [program, splitNames(text)]),
);

let readersByParam: Map<string, readonly string[]> | undefined;

function buildReadersByParam(): Map<string, readonly string[]> {
  const lists = new Map<string, string[]>();
  for (const [program, names] of PROGRAM_READS) {
    for (const name of names) {
      let list = lists.get(name);
      if (!list) lists.set(name, (list = []));
      if (!list.includes(program)) list.push(program);
    }
  }
  const out = new Map<string, readonly string[]>();
  for (const [name, list] of lists) {
    const sorted = list.filter((p) => p !== GLOBAL_READER).sort();
    if (list.includes(GLOBAL_READER)) sorted.unshift(GLOBAL_READER);
    out.set(name, Object.freeze(sorted));
  }
  return out;
}

const NO_READERS: readonly string[] = Object.freeze([]);

/**
 * The programs that read a parameter, 'global' first (meaning every
 * program), the rest sorted; empty for a name no program reads (a
 * per-service or user-defined name, or an unknown one).
 */
export function paramReaders(name: string): readonly string[] {
  readersByParam ??= buildReadersByParam();
  return readersByParam.get(name) ?? NO_READERS;
}

/** Whether a program reads a parameter, directly or through 'global'. */
export function programReads(program: string, name: string): boolean {
  const readers = paramReaders(name);
  return readers.includes(program) || readers.includes(GLOBAL_READER);
}

/**
 * Per program, the per-service suffixes it reads as "<service><suffix>"
 * (Postfix's get_mail_conf_*2() calls): the queue managers for every
 * transport in master.cf, pipe and spawn for their own service only.
 */
const SERVICE_SUFFIX_READS_TEXT: Readonly<Record<string, string>> = {
  qmgr: `
    _delivery_slot_cost _delivery_slot_discount _delivery_slot_loan
    _destination_concurrency_failed_cohort_limit _destination_concurrency_limit
    _destination_concurrency_negative_feedback _destination_concurrency_positive_feedback
    _destination_rate_delay _destination_recipient_limit _extra_recipient_limit
    _initial_destination_concurrency _minimum_delivery_slots _recipient_limit _recipient_refill_delay
    _recipient_refill_limit _transport_rate_delay
  `,
  oqmgr: `
    _destination_concurrency_failed_cohort_limit _destination_concurrency_limit
    _destination_concurrency_negative_feedback _destination_concurrency_positive_feedback
    _destination_rate_delay _destination_recipient_limit _initial_destination_concurrency
    _transport_rate_delay
  `,
  pipe: '_time_limit',
  spawn: '_time_limit',
};

/** Programs that read "<service><suffix>" only for a service they run themselves. */
const OWN_SERVICE_READERS: readonly string[] = ['pipe', 'spawn'];

const SERVICE_SUFFIX_READS: ReadonlyMap<string, readonly string[]> = new Map(
  Object.entries(SERVICE_SUFFIX_READS_TEXT).map(([program, text]) => [program, splitNames(text)]),
);

/**
 * The programs that read a per-service parameter "<service><suffix>" for a
 * master.cf service running `command` (e.g. relay_destination_concurrency_limit
 * for an smtp service: qmgr, oqmgr; uucp_time_limit for a pipe service: pipe).
 */
export function serviceParamReaders(suffix: string, command: string): readonly string[] {
  const out: string[] = [];
  for (const [program, suffixes] of SERVICE_SUFFIX_READS) {
    if (!suffixes.includes(suffix)) continue;
    if (OWN_SERVICE_READERS.includes(program) && program !== command) continue;
    out.push(program);
  }
  return out.sort();
}
