SELECT status,
       received_tli,
       pg_wal_lsn_diff(written_lsn, '0/0') AS written_lsn_bytes,
       pg_wal_lsn_diff(flushed_lsn, '0/0') AS flushed_lsn_bytes,
       EXTRACT(EPOCH FROM now() - last_msg_receipt_time) AS last_msg_receipt_age_seconds,
       EXTRACT(EPOCH FROM now() - latest_end_time) AS latest_end_age_seconds,
       slot_name,
       sender_host,
       sender_port
FROM pg_stat_wal_receiver;
