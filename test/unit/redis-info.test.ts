/**
 * parseRedisInfo / cacheStatsFromInfo on real INFO replies captured from Redis 7.0.15 on this
 * machine (a primary at 127.0.9.3 with one replica at 127.0.9.4, lab/components/redis.ts):
 * `INFO stats memory clients replication` and `INFO keyspace`. Redis separates lines with CRLF.
 */
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errors.js';
import { cacheStatsFromInfo, parseInfoValueList, parseRedisInfo } from '../../src/ops/adapters/redis.js';

const crlf = (text: string) => text.split('\n').join('\r\n');

/** The replica's reply, as received (CRLF restored). */
const REPLICA_INFO = crlf(`# Clients
connected_clients:2
cluster_connections:0
maxclients:10000
client_recent_max_input_buffer:20480
client_recent_max_output_buffer:0
blocked_clients:0
tracking_clients:0
clients_in_timeout_table:0

# Memory
used_memory:1047544
used_memory_human:1022.99K
used_memory_rss:7176192
used_memory_rss_human:6.84M
used_memory_peak:1120048
used_memory_peak_human:1.07M
used_memory_peak_perc:93.53%
used_memory_overhead:921460
used_memory_startup:876536
used_memory_dataset:126084
used_memory_dataset_perc:73.73%
allocator_allocated:2048656
allocator_active:2244608
allocator_resident:4960256
total_system_memory:25276518400
total_system_memory_human:23.54G
used_memory_lua:32768
used_memory_vm_eval:32768
used_memory_lua_human:32.00K
used_memory_scripts_eval:0
number_of_cached_scripts:0
number_of_functions:0
number_of_libraries:0
used_memory_vm_functions:33792
used_memory_vm_total:66560
used_memory_vm_total_human:65.00K
used_memory_functions:200
used_memory_scripts:200
used_memory_scripts_human:200B
maxmemory:0
maxmemory_human:0B
maxmemory_policy:noeviction
allocator_frag_ratio:1.10
allocator_frag_bytes:195952
allocator_rss_ratio:2.21
allocator_rss_bytes:2715648
rss_overhead_ratio:1.45
rss_overhead_bytes:2215936
mem_fragmentation_ratio:6.66
mem_fragmentation_bytes:6098856
mem_not_counted_for_evict:0
mem_replication_backlog:20508
mem_total_replication_buffers:20504
mem_clients_slaves:0
mem_clients_normal:24144
mem_cluster_links:0
mem_aof_buffer:0
mem_allocator:jemalloc-5.3.0
active_defrag_running:0
lazyfree_pending_objects:0
lazyfreed_objects:0

# Stats
total_connections_received:8
total_commands_processed:25
instantaneous_ops_per_sec:15
total_net_input_bytes:1738
total_net_output_bytes:46410
total_net_repl_input_bytes:322
total_net_repl_output_bytes:0
instantaneous_input_kbps:1.02
instantaneous_output_kbps:28.33
instantaneous_input_repl_kbps:0.20
instantaneous_output_repl_kbps:0.00
rejected_connections:0
sync_full:0
sync_partial_ok:0
sync_partial_err:0
expired_keys:0
expired_stale_perc:0.00
expired_time_cap_reached_count:0
expire_cycle_cpu_milliseconds:0
evicted_keys:0
evicted_clients:0
total_eviction_exceeded_time:0
current_eviction_exceeded_time:0
keyspace_hits:0
keyspace_misses:0
pubsub_channels:0
pubsub_patterns:0
pubsubshard_channels:0
latest_fork_usec:0
total_forks:0
migrate_cached_sockets:0
slave_expires_tracked_keys:0
active_defrag_hits:0
active_defrag_misses:0
active_defrag_key_hits:0
active_defrag_key_misses:0
total_active_defrag_time:0
current_active_defrag_time:0
tracking_total_keys:0
tracking_total_items:0
tracking_total_prefixes:0
unexpected_error_replies:0
total_error_replies:16
dump_payload_sanitizations:0
total_reads_processed:47
total_writes_processed:39
io_threaded_reads_processed:0
io_threaded_writes_processed:0
reply_buffer_shrinks:2
reply_buffer_expands:0

# Replication
role:slave
master_host:127.0.9.3
master_port:6379
master_link_status:up
master_last_io_seconds_ago:0
master_sync_in_progress:0
slave_read_repl_offset:63
slave_repl_offset:63
slave_priority:100
slave_read_only:1
replica_announced:1
connected_slaves:0
master_failover_state:no-failover
master_replid:e2ecf94408222807ba80505657a940ecb6901104
master_replid2:0000000000000000000000000000000000000000
master_repl_offset:63
second_repl_offset:-1
repl_backlog_active:1
repl_backlog_size:1048576
repl_backlog_first_byte_offset:1
repl_backlog_histlen:63
`);

/** The primary's reply to the same command, after one hit and one miss. */
const PRIMARY_INFO = crlf(`# Clients
connected_clients:1
cluster_connections:0
maxclients:10000
client_recent_max_input_buffer:20480
client_recent_max_output_buffer:20504
blocked_clients:0
tracking_clients:0
clients_in_timeout_table:0

# Memory
used_memory:1117232
used_memory_human:1.07M
used_memory_rss:7225344
used_memory_rss_human:6.89M
used_memory_peak:1147152
used_memory_peak_human:1.09M
used_memory_peak_perc:97.39%
used_memory_overhead:919468
used_memory_startup:876416
used_memory_dataset:197764
used_memory_dataset_perc:82.12%
allocator_allocated:1991904
allocator_active:2183168
allocator_resident:4853760
total_system_memory:25276518400
total_system_memory_human:23.54G
used_memory_lua:32768
used_memory_vm_eval:32768
used_memory_lua_human:32.00K
used_memory_scripts_eval:0
number_of_cached_scripts:0
number_of_functions:0
number_of_libraries:0
used_memory_vm_functions:33792
used_memory_vm_total:66560
used_memory_vm_total_human:65.00K
used_memory_functions:200
used_memory_scripts:200
used_memory_scripts_human:200B
maxmemory:0
maxmemory_human:0B
maxmemory_policy:noeviction
allocator_frag_ratio:1.10
allocator_frag_bytes:191264
allocator_rss_ratio:2.22
allocator_rss_bytes:2670592
rss_overhead_ratio:1.49
rss_overhead_bytes:2371584
mem_fragmentation_ratio:6.30
mem_fragmentation_bytes:6078320
mem_not_counted_for_evict:0
mem_replication_backlog:20508
mem_total_replication_buffers:20504
mem_clients_slaves:0
mem_clients_normal:22272
mem_cluster_links:0
mem_aof_buffer:0
mem_allocator:jemalloc-5.3.0
active_defrag_running:0
lazyfree_pending_objects:0
lazyfreed_objects:0

# Stats
total_connections_received:3
total_commands_processed:13
instantaneous_ops_per_sec:8
total_net_input_bytes:665
total_net_output_bytes:10754
total_net_repl_input_bytes:0
total_net_repl_output_bytes:322
instantaneous_input_kbps:0.36
instantaneous_output_kbps:6.50
instantaneous_input_repl_kbps:0.00
instantaneous_output_repl_kbps:0.19
rejected_connections:0
sync_full:1
sync_partial_ok:0
sync_partial_err:0
expired_keys:0
expired_stale_perc:0.00
expired_time_cap_reached_count:0
expire_cycle_cpu_milliseconds:0
evicted_keys:0
evicted_clients:0
total_eviction_exceeded_time:0
current_eviction_exceeded_time:0
keyspace_hits:1
keyspace_misses:1
pubsub_channels:0
pubsub_patterns:0
pubsubshard_channels:0
latest_fork_usec:336
total_forks:1
migrate_cached_sockets:0
slave_expires_tracked_keys:0
active_defrag_hits:0
active_defrag_misses:0
active_defrag_key_hits:0
active_defrag_key_misses:0
total_active_defrag_time:0
current_active_defrag_time:0
tracking_total_keys:0
tracking_total_items:0
tracking_total_prefixes:0
unexpected_error_replies:0
total_error_replies:4
dump_payload_sanitizations:0
total_reads_processed:17
total_writes_processed:15
io_threaded_reads_processed:0
io_threaded_writes_processed:0
reply_buffer_shrinks:2
reply_buffer_expands:0

# Replication
role:master
connected_slaves:1
slave0:ip=127.0.0.1,port=6379,state=online,offset=0,lag=0
master_failover_state:no-failover
master_replid:e2ecf94408222807ba80505657a940ecb6901104
master_replid2:0000000000000000000000000000000000000000
master_repl_offset:63
second_repl_offset:-1
repl_backlog_active:1
repl_backlog_size:1048576
repl_backlog_first_byte_offset:1
repl_backlog_histlen:63
`);

const KEYSPACE_INFO = crlf(`# Keyspace
db0:keys=1,expires=0,avg_ttl=0
`);

describe('parseRedisInfo', () => {
  it('reads every field of a real reply and skips section headers and blank lines', () => {
    const info = parseRedisInfo(REPLICA_INFO);
    expect(info.role).toBe('slave');
    expect(info.master_host).toBe('127.0.9.3');
    expect(info.master_link_status).toBe('up');
    expect(info.maxmemory_policy).toBe('noeviction');
    expect(info.used_memory_human).toBe('1022.99K');
    expect(Object.keys(info).some((k) => k.startsWith('#') || k === '')).toBe(false);
    // No value keeps a stray CR.
    expect(Object.values(info).some((v) => v.includes('\r'))).toBe(false);
  });

  it('keeps everything after the first colon (keyspace and slaveN lines)', () => {
    expect(parseRedisInfo(KEYSPACE_INFO)).toEqual({ db0: 'keys=1,expires=0,avg_ttl=0' });
    const slave0 = parseRedisInfo(PRIMARY_INFO).slave0 ?? '';
    expect(parseInfoValueList(slave0)).toEqual({
      ip: '127.0.0.1',
      port: '6379',
      state: 'online',
      offset: '0',
      lag: '0',
    });
  });

  it('accepts LF-only text and values containing colons', () => {
    expect(
      parseRedisInfo('# Server\nexecutable:/usr/bin/redis-server\nconfig_file:\nrun_id:abc:def\n'),
    ).toEqual({
      executable: '/usr/bin/redis-server',
      config_file: '',
      run_id: 'abc:def',
    });
    expect(parseRedisInfo('')).toEqual({});
  });
});

describe('cacheStatsFromInfo', () => {
  it('primary: hit rate from keyspace hits and misses, memory, replicas', () => {
    expect(cacheStatsFromInfo(parseRedisInfo(PRIMARY_INFO))).toEqual({
      keyspaceHits: 1,
      keyspaceMisses: 1,
      hitRate: 0.5,
      evictedKeys: 0,
      connectedClients: expect.any(Number),
      usedMemoryBytes: expect.any(Number),
      maxmemoryBytes: 0,
      maxmemoryPolicy: 'noeviction',
      role: 'master',
      connectedReplicas: 1,
    });
  });

  it('replica: no lookups yet means no hit rate (null, not 0 or NaN); the link status is reported', () => {
    const stats = cacheStatsFromInfo(parseRedisInfo(REPLICA_INFO));
    expect(stats).toMatchObject({
      keyspaceHits: 0,
      keyspaceMisses: 0,
      hitRate: null,
      role: 'slave',
      masterLinkStatus: 'up',
      connectedReplicas: 0,
      connectedClients: 2,
      usedMemoryBytes: 1047544,
    });
  });

  it('a primary has no masterLinkStatus field at all', () => {
    expect('masterLinkStatus' in cacheStatsFromInfo(parseRedisInfo(PRIMARY_INFO))).toBe(false);
  });

  it('refuses INFO that lacks the needed sections', () => {
    expect(() => cacheStatsFromInfo(parseRedisInfo(KEYSPACE_INFO))).toThrow(InvalidArgumentError);
    const noStats = parseRedisInfo(PRIMARY_INFO.replace(/keyspace_hits:\d+/, ''));
    expect(() => cacheStatsFromInfo(noStats)).toThrow(/keyspace_hits/);
  });
});
