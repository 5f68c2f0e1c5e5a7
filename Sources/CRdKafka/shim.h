// The only C that Framelog compiles: librdkafka's headers plus wrappers for what Swift cannot call
// (C-variadic functions and function-like macros). Compiled against Debian's librdkafka 2.0.2 headers;
// the 2.16 runtime library is ABI-compatible with them.
#ifndef FRAMELOG_CRDKAFKA_SHIM_H
#define FRAMELOG_CRDKAFKA_SHIM_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/// Produces one record, copying key and value. `headers` (may be NULL) is owned by librdkafka only when
/// this returns RD_KAFKA_RESP_ERR_NO_ERROR; on failure the caller still owns and must destroy it.
static inline rd_kafka_resp_err_t framelog_produce(rd_kafka_t *rk, const char *topic, int32_t partition,
                                                   const void *key, size_t key_len, const void *value,
                                                   size_t value_len, rd_kafka_headers_t *headers,
                                                   int64_t timestamp_ms, void *opaque) {
    if (headers != NULL) {
        return rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                                 RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_HEADERS(headers),
                                 RD_KAFKA_V_TIMESTAMP(timestamp_ms), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
    }
    return rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
                             RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE((void *)value, value_len),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(timestamp_ms),
                             RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
}

/// RD_KAFKA_PARTITION_UA as a constant Swift can see.
static inline int32_t framelog_partition_unassigned(void) { return RD_KAFKA_PARTITION_UA; }

#endif
