//! `RedisStore` against the generic suites, on a standalone server and on a Cluster, and what only
//! a shared store can show: two stores on one Redis, the stored format, an interrupted
//! `forget_room`. Needs real servers: `bash .ci/redis.sh` (see tests/redis_env).

#![cfg(feature = "redis")]

mod redis_env;
mod support;

conformance_suite!(standalone, |limit| redis_env::standalone_store(limit));
model_suite!(standalone_model, |limit| redis_env::standalone_store(limit));
stress_suite!(standalone_stress, |limit| redis_env::standalone_store(limit));

conformance_suite!(cluster, |limit| redis_env::cluster_store(limit));
model_suite!(cluster_model, |limit| redis_env::cluster_store(limit));
stress_suite!(cluster_stress, |limit| redis_env::cluster_store(limit));
