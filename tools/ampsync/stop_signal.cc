#include "stop_signal.h"

#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include <pthread.h>
#include <unistd.h>

namespace amp::cli {
namespace {

std::mutex g_mu;
std::map<int, std::function<void()>> g_callbacks;
int g_next_id = 1;
bool g_requested = false;
std::condition_variable g_stopped;  // notified (under g_mu) when g_requested turns true

void WatchSignals(sigset_t set) {
  while (true) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    std::map<int, std::function<void()>> callbacks;
    {
      std::lock_guard<std::mutex> lock(g_mu);
      if (g_requested) _exit(130);  // second Ctrl+C: the user insists
      g_requested = true;
      callbacks = g_callbacks;
    }
    g_stopped.notify_all();
    for (auto& [id, cb] : callbacks) cb();
  }
}

}  // namespace

void StopSignal::Install() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread(WatchSignals, set).detach();
}

bool StopSignal::requested() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_requested;
}

bool StopSignal::WaitFor(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(g_mu);
  return g_stopped.wait_for(lock, timeout, [] { return g_requested; });
}

int StopSignal::OnStop(std::function<void()> callback) {
  std::unique_lock<std::mutex> lock(g_mu);
  if (g_requested) {
    lock.unlock();
    callback();
    return 0;
  }
  int id = g_next_id++;
  g_callbacks[id] = std::move(callback);
  return id;
}

void StopSignal::Remove(int id) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_callbacks.erase(id);
}

}  // namespace amp::cli
