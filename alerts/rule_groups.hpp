#pragma once
// The rules, one function per group: the groups of the promtool tests in
// alerts/tests/<group>.yml, one source file each (alerts/rules_<group>.cpp).
// rule_table() joins them. Internal to alerts/.
#include <vector>

#include "alerts/rules.hpp"

namespace pgvigil::alerts::detail {

std::vector<RuleDefinition> availability_rules();    // connections, sessions
std::vector<RuleDefinition> custom_check_rules();    // [[target.check]] (availability.yml)
std::vector<RuleDefinition> replication_rules();     // standbys, slots, WAL archiving
std::vector<RuleDefinition> storage_rules();         // disks, backups, corruption, vacuum
std::vector<RuleDefinition> selfmonitoring_rules();  // pgvigil's own probes
std::vector<RuleDefinition> patroni_rules();         // the Patroni REST API
std::vector<RuleDefinition> detections_rules();      // restarts, crashes, host, workload
std::vector<RuleDefinition> queries_rules();         // pg_stat_statements
std::vector<RuleDefinition> redis_rules();           // kind = "redis" targets
std::vector<RuleDefinition> pgbouncer_rules();       // kind = "pgbouncer" targets
std::vector<RuleDefinition> neo4j_rules();           // kind = "neo4j" targets

}  // namespace pgvigil::alerts::detail
