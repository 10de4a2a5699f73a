// The deadline of a call into workflow code, kept by one thread for the whole process.
//
// Node's vm enforces a `timeout` with a watchdog thread started and joined for every call: ~200 µs
// of CPU each here, and the Temporal SDK passes one on each of its ~24 calls into a workflow per
// execution. guardedCall keeps the same interrupt (TerminateExecution, then a catchable
// ERR_SCRIPT_EXECUTION_TIMEOUT error, as node's vm throws) for ~2 µs: a call registers its deadline
// with a long-lived thread, which terminates the isolate only once that deadline has passed.
#include <node.h>
#include <v8.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace {

using Clock = std::chrono::steady_clock;

struct Deadline {
  v8::Isolate* isolate;
  Clock::time_point at;
  bool fired;
};

std::atomic<uint64_t> guarded_calls{0};
std::atomic<uint64_t> terminations{0};

class Watchdog {
 public:
  static Watchdog& shared() {
    // Never destroyed: its detached thread may still be waiting when the process exits.
    static Watchdog* instance = new Watchdog();
    return *instance;
  }

  std::list<Deadline>::iterator arm(v8::Isolate* isolate, Clock::time_point at) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto deadline = deadlines_.insert(deadlines_.end(), Deadline{isolate, at, false});
    // The thread need not wake for a deadline later than the one it sleeps until.
    if (!sleeping_until_ || at < *sleeping_until_) wake_.notify_one();
    return deadline;
  }

  /** Whether the deadline fired (the isolate was told to terminate). */
  bool disarm(std::list<Deadline>::iterator deadline) {
    std::lock_guard<std::mutex> lock(mutex_);
    bool fired = deadline->fired;
    deadlines_.erase(deadline);
    return fired;
  }

 private:
  Watchdog() { std::thread([this] { run(); }).detach(); }

  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      Clock::time_point now = Clock::now();
      std::optional<Clock::time_point> next;
      for (Deadline& deadline : deadlines_) {
        if (deadline.fired) continue;
        if (deadline.at <= now) {
          deadline.fired = true;
          terminations++;
          deadline.isolate->TerminateExecution();  // thread-safe, by V8's contract
        } else if (!next || deadline.at < *next) {
          next = deadline.at;
        }
      }
      sleeping_until_ = next;
      if (next) {
        wake_.wait_until(lock, *next);
      } else {
        sleeping_until_ = Clock::time_point::max();
        wake_.wait(lock);
      }
      sleeping_until_.reset();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::list<Deadline> deadlines_;
  // What the thread sleeps until; empty while it is awake (it then sees every deadline anyway).
  std::optional<Clock::time_point> sleeping_until_;
};

v8::Local<v8::String> Text(v8::Isolate* isolate, const std::string& text) {
  return v8::String::NewFromUtf8(isolate, text.c_str()).ToLocalChecked();
}

// guardedCall(fn, timeoutMs): fn() under a deadline of timeoutMs.
void GuardedCall(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  if (args.Length() < 2 || !args[0]->IsFunction() || !args[1]->IsNumber() ||
      !(args[1].As<v8::Number>()->Value() >= 0)) {
    isolate->ThrowException(v8::Exception::TypeError(
        Text(isolate, "guardedCall(fn, timeoutMs): a function and a number of ms >= 0")));
    return;
  }
  double timeout_ms = args[1].As<v8::Number>()->Value();
  Clock::time_point at = Clock::now() + std::chrono::microseconds(static_cast<int64_t>(timeout_ms * 1000));
  guarded_calls++;
  v8::MaybeLocal<v8::Value> result;
  bool fired;
  {
    v8::TryCatch try_catch(isolate);
    auto deadline = Watchdog::shared().arm(isolate, at);
    result = args[0].As<v8::Function>()->Call(context, v8::Undefined(isolate), 0, nullptr);
    fired = Watchdog::shared().disarm(deadline);
    if (!fired && try_catch.HasCaught()) {
      // fn's own error goes on up; so does a termination that is not ours (a worker thread being stopped).
      if (!try_catch.HasTerminated()) try_catch.ReThrow();
      return;
    }
  }
  if (fired) {
    // Ours, even if fn had just returned: the isolate must not stay terminating.
    isolate->CancelTerminateExecution();
    v8::Local<v8::Object> error = v8::Exception::Error(Text(
        isolate, "Script execution timed out after " + std::to_string(static_cast<int64_t>(timeout_ms)) + "ms"))
        .As<v8::Object>();
    error->Set(context, Text(isolate, "code"), Text(isolate, "ERR_SCRIPT_EXECUTION_TIMEOUT")).Check();
    isolate->ThrowException(error);
    return;
  }
  args.GetReturnValue().Set(result.ToLocalChecked());
}

// stats(): counts for the whole process, every thread's calls together.
void Stats(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Object> stats = v8::Object::New(isolate);
  stats->Set(context, Text(isolate, "guardedCalls"), v8::Number::New(isolate, static_cast<double>(guarded_calls.load()))).Check();
  stats->Set(context, Text(isolate, "terminations"), v8::Number::New(isolate, static_cast<double>(terminations.load()))).Check();
  args.GetReturnValue().Set(stats);
}

}  // namespace

// Context-aware, so that workflow worker threads may load it too.
NODE_MODULE_INIT(/* exports, module, context */) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  exports->Set(context, Text(isolate, "guardedCall"),
      v8::FunctionTemplate::New(isolate, GuardedCall)->GetFunction(context).ToLocalChecked()).Check();
  exports->Set(context, Text(isolate, "stats"),
      v8::FunctionTemplate::New(isolate, Stats)->GetFunction(context).ToLocalChecked()).Check();
}
