/* tests/train/test_train_kill.c — crash safety of `vlmc train` (the real
 * binary, VLMC_BINARY): SIGKILL during training and SIGKILL in the middle of
 * a checkpoint write, then `--resume`. The resumed metrics.jsonl must hold
 * exactly the uninterrupted run's losses (==), and `latest` must never name a
 * partial checkpoint.
 *
 * The child is slowed with VLMC_TEST_STEP_DELAY_MS so the kill lands
 * mid-run; VLMC_TEST_PAUSE_IN_CKPT=8 makes the writer of ckpt-8 stop after
 * the weights (marker file RUN/.pause-in-ckpt) until it is killed. */
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "train_util.h"

static const char *binary(void) {
    const char *b = getenv("VLMC_BINARY");
    return b ? b : "build/vlmc";
}

static pid_t spawn(const char *dir, int resume, const char *delay, const char *pause) {
    char cfg[4096], logp[4200];
    snprintf(cfg, sizeof cfg, "%s/tests/train/configs/tiny.yaml", tu_src());
    snprintf(logp, sizeof logp, "%s.log", dir);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        FILE *lf = freopen(logp, "a", stderr);
        (void)lf;
        if (!freopen("/dev/null", "w", stdout)) _exit(126);
        if (delay) setenv("VLMC_TEST_STEP_DELAY_MS", delay, 1);
        else unsetenv("VLMC_TEST_STEP_DELAY_MS");
        if (pause) setenv("VLMC_TEST_PAUSE_IN_CKPT", pause, 1);
        else unsetenv("VLMC_TEST_PAUSE_IN_CKPT");
        if (resume) execl(binary(), binary(), "train", cfg, "--out", dir, "--resume", (char *)NULL);
        else execl(binary(), binary(), "train", cfg, "--out", dir, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int wait_exit(pid_t pid) {
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int rows(const char *dir) {
    double l[64];
    int n = tu_losses(dir, l, 64);
    return n < 0 ? 0 : n;
}

/* latest names a directory holding every file of a checkpoint */
static void check_latest_complete(const char *dir, const char *want) {
    char p[4300], name[256] = {0};
    snprintf(p, sizeof p, "%s/latest", dir);
    FILE *f = fopen(p, "r");
    CHECK(f != NULL, "no latest in %s", dir);
    if (!f) return;
    CHECK(fgets(name, sizeof name, f) != NULL, "empty latest");
    fclose(f);
    name[strcspn(name, "\n")] = 0;
    if (want) CHECK(!strcmp(name, want), "latest names %s, want %s", name, want);
    const char *files[] = {"model.safetensors", "config.json", "optim.safetensors", "trainer.json"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s/%s", dir, name, files[i]);
        CHECK(access(p, F_OK) == 0, "latest (%s) lacks %s", name, files[i]);
    }
}

static void compare(const char *ref, const char *dir, const char *what) {
    double a[64], b[64];
    int na = tu_losses(ref, a, 64), nb = tu_losses(dir, b, 64);
    CHECK(na == 12 && nb == 12, "%s: rows %d vs %d", what, na, nb);
    int same = na == nb;
    for (int i = 0; i < na && i < nb; i++) {
        CHECK(a[i] == b[i], "%s: step %d loss %.9g vs uninterrupted %.9g", what, i + 1, b[i], a[i]);
        same &= a[i] == b[i];
    }
    printf("  %s: %d losses %s the uninterrupted run's\n", what, nb, same ? "equal" : "DIFFER from");
}

static void test_kill_and_resume(void) {
    char ref[256], d1[256], d2[256];
    tu_tmpdir(ref, sizeof ref, "kill_ref");
    tu_tmpdir(d1, sizeof d1, "kill_train");
    tu_tmpdir(d2, sizeof d2, "kill_ckpt");
    CHECK(wait_exit(spawn(ref, 0, NULL, NULL)) == 0, "uninterrupted run failed (log %s.log)", ref);

    /* 1. SIGKILL during training (after step 7: stage 2, latest = ckpt-6) */
    pid_t pid = spawn(d1, 0, "40", NULL);
    double t0 = now();
    while (rows(d1) < 7 && now() - t0 < 60) usleep(2000);
    kill(pid, SIGKILL);
    int ex = wait_exit(pid);
    int seen = rows(d1);
    CHECK(ex == 128 + SIGKILL, "the run ended before the kill (exit %d, %d rows)", ex, seen);
    printf("  killed during training after %d steps\n", seen);
    check_latest_complete(d1, NULL);
    CHECK(wait_exit(spawn(d1, 1, NULL, NULL)) == 0, "resume failed (log %s.log)", d1);
    compare(ref, d1, "kill in training");
    check_latest_complete(d1, "ckpt-00000012");

    /* 2. SIGKILL inside the checkpoint write of step 8 (weights written, optimizer not yet) */
    pid = spawn(d2, 0, NULL, "8");
    char marker[4300];
    snprintf(marker, sizeof marker, "%s/.pause-in-ckpt", d2);
    t0 = now();
    while (access(marker, F_OK) != 0 && now() - t0 < 60) usleep(2000);
    CHECK(access(marker, F_OK) == 0, "the writer never paused");
    kill(pid, SIGKILL);
    CHECK(wait_exit(pid) == 128 + SIGKILL, "not killed");
    char tmp[4300], fin[4300];
    snprintf(tmp, sizeof tmp, "%s/.ckpt-00000008.tmp/model.safetensors", d2);
    snprintf(fin, sizeof fin, "%s/ckpt-00000008", d2);
    CHECK(access(tmp, F_OK) == 0, "the partial checkpoint should be left as a temporary");
    CHECK(access(fin, F_OK) != 0, "a partial checkpoint was renamed into place");
    check_latest_complete(d2, "ckpt-00000006");
    printf("  killed inside the ckpt-8 write: latest still names ckpt-00000006\n");
    CHECK(wait_exit(spawn(d2, 1, NULL, NULL)) == 0, "resume failed (log %s.log)", d2);
    compare(ref, d2, "kill in checkpoint write");
    snprintf(tmp, sizeof tmp, "%s/.ckpt-00000008.tmp", d2);
    CHECK(access(tmp, F_OK) != 0, "the stale temporary was not cleaned");
    check_latest_complete(d2, "ckpt-00000012");
    char logs[3][300];
    snprintf(logs[0], sizeof logs[0], "%s.log", ref);
    snprintf(logs[1], sizeof logs[1], "%s.log", d1);
    snprintf(logs[2], sizeof logs[2], "%s.log", d2);
    if (!test_failures) for (int i = 0; i < 3; i++) unlink(logs[i]);
    tu_rmtree(ref);
    tu_rmtree(d1);
    tu_rmtree(d2);
}

TEST_MAIN({"kill_and_resume", test_kill_and_resume})
