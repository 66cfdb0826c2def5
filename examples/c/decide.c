/* Decides from several threads with one talktrack engine through the C ABI.
 *
 * Build (from the repository root, after `cargo build -p talktrack-capi`):
 *   cc examples/c/decide.c -I crates/talktrack-capi/include \
 *      -L target/debug -ltalktrack_capi -Wl,-rpath,target/debug -lpthread -o decide
 * Run:
 *   ./decide policies/telecom-upsell
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "talktrack.h"

#define THREADS 4
#define DECISIONS_PER_THREAD 25

static const char *REQUEST =
    "{\"conversation_id\": \"c-%d\", \"time\": \"2026-11-26T10:05:00Z\","
    " \"context\": {\"age\": 34, \"region\": \"north\", \"segment\": \"young_family\","
    " \"plan\": \"basic\", \"tenure_months\": 30, \"monthly_spend\": 25.0,"
    " \"open_complaint\": false, \"marketing_consent\": true, \"credit_score\": 700,"
    " \"products\": []},"
    " \"history\": {\"tracks\": [\"greet\"], \"replies\": [\"positive\"]}}";

struct job {
    TalktrackEngine *engine;
    int index;
    int failures;
    char first[4096];
};

static void *worker(void *arg) {
    struct job *job = arg;
    char request[2048];
    for (int i = 0; i < DECISIONS_PER_THREAD; i++) {
        snprintf(request, sizeof request, REQUEST, job->index * 1000 + i);
        char *decision = NULL;
        TalktrackStatus status = talktrack_engine_decide(job->engine, request, &decision);
        if (status != TALKTRACK_OK) {
            fprintf(stderr, "thread %d: error %d: %s\n", job->index, (int)status,
                    talktrack_last_error());
            job->failures++;
            continue;
        }
        if (i == 0) {
            snprintf(job->first, sizeof job->first, "%s", decision);
        }
        talktrack_string_free(decision);
    }
    return NULL;
}

int main(int argc, char **argv) {
    const char *bundle = argc > 1 ? argv[1] : "policies/telecom-upsell";
    if (talktrack_abi_version() != TALKTRACK_ABI_VERSION) {
        fprintf(stderr, "ABI mismatch: header %u, library %u\n", TALKTRACK_ABI_VERSION,
                talktrack_abi_version());
        return 1;
    }

    TalktrackEngine *engine = NULL;
    if (talktrack_engine_new(bundle, &engine) != TALKTRACK_OK) {
        fprintf(stderr, "%s\n", talktrack_last_error());
        return 1;
    }
    char *identity = NULL;
    if (talktrack_engine_identity(engine, &identity) == TALKTRACK_OK) {
        printf("serving %s\n", identity);
        talktrack_string_free(identity);
    }

    pthread_t threads[THREADS];
    struct job jobs[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&jobs[t], 0, sizeof jobs[t]);
        jobs[t].engine = engine;
        jobs[t].index = t;
        pthread_create(&threads[t], NULL, worker, &jobs[t]);
    }
    int failures = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        failures += jobs[t].failures;
        printf("thread %d: %s\n", t, jobs[t].first);
    }

    /* A malformed request gives a code and a message, never a crash. */
    char *none = NULL;
    TalktrackStatus bad = talktrack_engine_decide(engine, "{not json", &none);
    printf("bad request: status %d: %s\n", (int)bad, talktrack_last_error());

    talktrack_engine_free(engine);
    printf("%d decisions, %d failures\n", THREADS * DECISIONS_PER_THREAD, failures);
    return failures == 0 ? 0 : 1;
}
