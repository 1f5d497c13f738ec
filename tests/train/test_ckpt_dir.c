/* Checkpoint directory life cycle: commit, latest, a writer killed mid-write
 * (simulated by a child that writes half a checkpoint and is SIGKILLed),
 * pruning with milestones. */
#include "test.h"
#include "train/ckpt_dir.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char run[256];

static void setup(void) {
    snprintf(run, sizeof run, "%s/vlmc_ckpt_test_%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", run);
    CHECK(system(cmd) == 0);
}

static int exists(const char *fmt, int64_t step) {
    char p[512], name[64];
    snprintf(name, sizeof name, fmt, (long long)step);
    snprintf(p, sizeof p, "%s/%s", run, name);
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void write_ckpt(int64_t step) {
    VStatus st = {0};
    char tmp[512], f[600];
    CHECK(ckpt_dir_begin(run, step, tmp, sizeof tmp, &st) == 0, "%s", st.msg);
    snprintf(f, sizeof f, "%s/state.json", tmp);
    CHECK(ckpt_write_file_atomic(f, "{}\n", 3, &st) == 0, "%s", st.msg);
    CHECK(ckpt_dir_commit(run, step, tmp, &st) == 0, "%s", st.msg);
}

static void test_commit_and_latest(void) {
    setup();
    VStatus st = {0};
    char p[512];
    CHECK(ckpt_dir_latest(run, p, sizeof p, &st) == 1, "no latest before the first checkpoint");
    write_ckpt(10);
    write_ckpt(20);
    CHECK(ckpt_dir_latest(run, p, sizeof p, &st) == 0, "%s", st.msg);
    CHECK(strstr(p, "ckpt-00000020") != NULL, "latest is %s", p);
    CHECK(!exists(".ckpt-%08lld.tmp", 20), "temporary removed by the rename");
}

static void test_killed_writer(void) {
    setup();
    write_ckpt(5);
    pid_t pid = fork();
    if (pid == 0) {   /* child: starts checkpoint 6, writes part of it, then hangs */
        VStatus st;
        char tmp[512], f[600];
        if (ckpt_dir_begin(run, 6, tmp, sizeof tmp, &st)) _exit(3);
        snprintf(f, sizeof f, "%s/model.safetensors", tmp);
        FILE *o = fopen(f, "w");
        if (o) { fputs("partial", o); fclose(o); }
        for (;;) pause();
    }
    usleep(200 * 1000);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status));
    VStatus st = {0};
    char p[512];
    CHECK(ckpt_dir_latest(run, p, sizeof p, &st) == 0 && strstr(p, "ckpt-00000005"), "latest still the complete one: %s", p);
    CHECK(exists(".ckpt-%08lld.tmp", 6), "the partial write exists as a temporary");
    CHECK(!exists("ckpt-%08lld", 6), "and never under a checkpoint name");
    CHECK(ckpt_dir_clean_stale(run, &st) == 0);
    CHECK(!exists(".ckpt-%08lld.tmp", 6), "cleaned on the next start");
}

static void test_prune(void) {
    setup();
    for (int64_t s = 100; s <= 1000; s += 100) write_ckpt(s);
    VStatus st = {0};
    CHECK(ckpt_dir_prune(run, 2, 500, &st) == 0, "%s", st.msg);
    for (int64_t s = 100; s <= 1000; s += 100) {
        int want = s == 900 || s == 1000 || s == 500;
        CHECK(exists("ckpt-%08lld", s) == want, "step %lld kept=%d", (long long)s, !want);
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", run);
    CHECK(system(cmd) == 0);
}

static void test_bad_latest(void) {
    setup();
    write_ckpt(1);
    char f[512];
    snprintf(f, sizeof f, "%s/latest", run);
    FILE *o = fopen(f, "w");
    fputs("../../etc\n", o);
    fclose(o);
    VStatus st = {0};
    char p[512];
    CHECK(ckpt_dir_latest(run, p, sizeof p, &st) < 0 && strstr(st.msg, "does not name a checkpoint"), "%s", st.msg);
}

TEST_MAIN({"commit_and_latest", test_commit_and_latest}, {"killed_writer", test_killed_writer}, {"prune", test_prune},
          {"bad_latest", test_bad_latest})
