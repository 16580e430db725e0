// The one table of target kinds other than PostgreSQL: each kind's session.
#include "collect/neo4j_session.hpp"
#include "collect/pgbouncer_session.hpp"
#include "collect/redis_session.hpp"
#include "collect/service_session.hpp"

namespace pgvigil {

std::shared_ptr<ServiceSession> make_service_session(boost::asio::io_context& io,
                                                     MetricsStore& store,
                                                     config::ServiceTargetConfig target,
                                                     std::optional<std::string> password) {
  switch (target.kind) {
    case config::ServiceKind::redis:
      return std::make_shared<RedisSession>(io, store, std::move(target), std::move(password));
    case config::ServiceKind::pgbouncer:
      return std::make_shared<PgbouncerSession>(io, store, std::move(target), std::move(password));
    case config::ServiceKind::neo4j:
      return std::make_shared<Neo4jSession>(io, store, std::move(target), std::move(password));
  }
  return nullptr;  // unreachable: every kind has a session
}

}  // namespace pgvigil
