
SELECT c.num_timed AS checkpoints_timed,
       c.num_requested AS checkpoints_req,
       c.write_time AS checkpoint_write_time,
       c.sync_time AS checkpoint_sync_time,
       c.buffers_written AS buffers_checkpoint,
       c.restartpoints_timed,
       c.restartpoints_req,
       c.restartpoints_done,
       extract(epoch FROM c.stats_reset) AS checkpointer_stats_reset,
       b.buffers_clean,
       b.maxwritten_clean,
       b.buffers_alloc,
       extract(epoch FROM b.stats_reset) AS stats_reset
FROM pg_stat_checkpointer AS c
CROSS JOIN pg_stat_bgwriter AS b
