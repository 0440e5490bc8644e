// process_manager: the one long-lived thread that creates stage processes and reaps them.
//
// Stages are created on this thread because a parent-death signal fires when the creating
// THREAD exits (KERNEL-FACTS.md): a libuv pool thread or a worker could exit and kill them.
// The same thread watches every stage's pidfd with epoll, reaps it with waitid(P_PIDFD) (so no
// zombie is left) and hands {pid, code, signal} to JS through a ThreadSafeFunction.
#include "process_manager.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "errors.h"

extern "C" {
#include "../core/spawn.h"
#include "../core/sys.h"
}

namespace nsb {

namespace {

struct SpawnJob {
  ns_spawn_request req;
  pid_t pid = -1;
  int pidfd = -1;
  ns_error err;
  bool done = false;
};

struct ExitEvent {
  pid_t pid;
  int code;    // exit code, or -1 when killed by a signal
  int signal;  // signal number, or 0
};

class ProcessManager {
 public:
  // Starts the thread; on_exit(pid, code, signal) is called on the JS thread for every reaped stage.
  ProcessManager(Napi::Env env, Napi::Function on_exit) {
    SetHandler(on_exit);
    tsfn_ = Napi::ThreadSafeFunction::New(env, Napi::Function(), "wsrun-process-manager", 0, 1);
    tsfn_.Unref(env);
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    evfd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (epfd_ < 0 || evfd_ < 0) throw MakeErrno(env, errno, "epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = evfd_;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev);
    thread_ = std::thread([this] { Run(); });
    thread_.detach();  // lives as long as the process: stages' pdeath signals depend on it
  }

  // Called on the JS thread; blocks until the manager thread has cloned the stage (well under
  // a millisecond: the child execs on its own).
  SpawnJob *Spawn(const ns_spawn_request &req) {
    auto *job = new SpawnJob();
    job->req = req;
    ns_error_clear(&job->err);
    {
      std::lock_guard<std::mutex> lock(mu_);
      jobs_.push_back(job);
    }
    uint64_t one = 1;
    if (write(evfd_, &one, sizeof(one)) < 0) { /* the counter is already non-zero */ }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [job] { return job->done; });
    return job;
  }

  // Replaces the JS exit handler (JS thread only): a test runner may load the TS layer again.
  void SetHandler(Napi::Function on_exit) { handler_ = Napi::Persistent(on_exit); }

  // Keeps the event loop alive while stages are outstanding (JS thread only).
  void SetRef(Napi::Env env, bool ref) {
    if (ref) tsfn_.Ref(env);
    else tsfn_.Unref(env);
  }

 private:
  void Run() {
    // signals are handled by Node's main thread; stages start with a clean mask (stage_main.c)
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    epoll_event events[32];
    for (;;) {
      int n = epoll_wait(epfd_, events, 32, -1);
      if (n < 0) continue;  // EINTR
      for (int i = 0; i < n; i++) {
        if (events[i].data.fd == evfd_) RunJobs();
        else Reap(events[i].data.fd);
      }
    }
  }

  void RunJobs() {
    uint64_t count;
    if (read(evfd_, &count, sizeof(count)) < 0) { /* EAGAIN: nothing queued */ }
    for (;;) {
      SpawnJob *job;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (jobs_.empty()) return;
        job = jobs_.front();
        jobs_.pop_front();
      }
      int pidfd = -1;
      void *block = nullptr;
      pid_t pid = ns_spawn_stage(&job->req, &pidfd, &block, &job->err);
      if (pid > 0) {
        blocks_[pidfd] = block;
        // the watcher keeps its own pidfd; JS gets a duplicate it may close whenever it likes
        int js_fd = fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
        watched_[pidfd] = pid;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = pidfd;
        epoll_ctl(epfd_, EPOLL_CTL_ADD, pidfd, &ev);
        job->pid = pid;
        job->pidfd = js_fd;
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        job->done = true;
      }
      cv_.notify_all();
    }
  }

  void Reap(int pidfd) {
    siginfo_t info{};
    if (waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), &info, WEXITED | WNOHANG) < 0 || info.si_pid == 0) {
      return;  // not exited yet (spurious wake-up)
    }
    epoll_ctl(epfd_, EPOLL_CTL_DEL, pidfd, nullptr);
    pid_t pid = watched_[pidfd];
    watched_.erase(pidfd);
    // the child exec'd or died long ago: its stack and arguments can go
    ns_spawn_free(blocks_[pidfd]);
    blocks_.erase(pidfd);
    close(pidfd);
    auto *event = new ExitEvent{pid, -1, 0};
    if (info.si_code == CLD_EXITED) event->code = info.si_status;
    else event->signal = info.si_status;
    tsfn_.BlockingCall(event, [this](Napi::Env env, Napi::Function, ExitEvent *e) {
      Napi::HandleScope scope(env);
      if (!handler_.IsEmpty()) {
        try {
          handler_.Call({Napi::Number::New(env, e->pid), e->code >= 0 ? Napi::Number::New(env, e->code) : env.Null(),
                         Napi::Number::New(env, e->signal)});
        } catch (const Napi::Error &err) {
          napi_fatal_exception(env, err.Value());
        }
      }
      delete e;
    });
  }

  Napi::ThreadSafeFunction tsfn_;
  Napi::FunctionReference handler_;
  int epfd_ = -1;
  int evfd_ = -1;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<SpawnJob *> jobs_;
  std::map<int, pid_t> watched_;  // manager thread only
  std::map<int, void *> blocks_;  // manager thread only: what each memory-sharing child used
};

ProcessManager *manager = nullptr;

}  // namespace

// startProcessManager(onExit(pid, code|null, signal)): starts the thread once per process; later
// calls only replace the handler.
static void StartProcessManager(const Napi::CallbackInfo &info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "onExit must be a function");
  if (manager != nullptr) manager->SetHandler(info[0].As<Napi::Function>());
  else manager = new ProcessManager(info.Env(), info[0].As<Napi::Function>());
}

// spawnStage({cloneFlags, channelFd, exeFd, name, pdeathsig, hold, cgroupFd}) -> {pid, pidfd}
static Napi::Value SpawnStage(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (manager == nullptr) throw Napi::Error::New(env, "startProcessManager was not called");
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "spawnStage: expected an options object");
  Napi::Object o = info[0].As<Napi::Object>();
  std::string name = o.Get("name").IsString() ? o.Get("name").As<Napi::String>().Utf8Value() : "wsrun-stage";
  ns_spawn_request req{};
  req.clone_flags = static_cast<uint64_t>(o.Get("cloneFlags").As<Napi::Number>().Int64Value());
  req.channel_fd = o.Get("channelFd").As<Napi::Number>().Int32Value();
  req.exe_fd = o.Get("exeFd").As<Napi::Number>().Int32Value();
  req.name = name.c_str();
  req.pdeathsig = o.Get("pdeathsig").IsNumber() ? o.Get("pdeathsig").As<Napi::Number>().Int32Value() : 0;
  req.hold = o.Get("hold").ToBoolean().Value() ? 1 : 0;
  req.cgroup_fd = o.Get("cgroupFd").IsNumber() ? o.Get("cgroupFd").As<Napi::Number>().Int32Value() : -1;
  SpawnJob *job = manager->Spawn(req);
  if (job->pid < 0) {
    Napi::Error e = MakeError(env, job->err);
    delete job;
    throw e;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("pid", Napi::Number::New(env, job->pid));
  out.Set("pidfd", Napi::Number::New(env, job->pidfd));
  delete job;
  return out;
}

static void SetExitWatchRef(const Napi::CallbackInfo &info) {
  if (manager != nullptr) manager->SetRef(info.Env(), info[0].ToBoolean().Value());
}

void InitProcessManager(Napi::Env env, Napi::Object exports) {
  exports.Set("startProcessManager", Napi::Function::New(env, StartProcessManager));
  exports.Set("spawnStage", Napi::Function::New(env, SpawnStage));
  exports.Set("setExitWatchRef", Napi::Function::New(env, SetExitWatchRef));
}

}  // namespace nsb
