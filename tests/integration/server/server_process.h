// Runs the real codiff-server binary on loopback ports picked by the kernel
// (127.0.0.1:0), with its log in a file, for the integration tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

namespace codiff::testing {

class ServerProcess {
 public:
  // Writes a config (listen, metrics and HTTP on 127.0.0.1:0, the given model,
  // then `extra_yaml` verbatim) and starts the server. Returns null, with
  // the reason in *error, when it does not report SERVING in time.
  static std::unique_ptr<ServerProcess> Start(const std::string& model_dir,
                                              const std::string& extra_yaml, std::string* error);
  ~ServerProcess();  // SIGKILL if still running

  int grpc_port() const { return grpc_port_; }
  int metrics_port() const { return metrics_port_; }
  int http_port() const { return http_port_; }  // 0: HTTP off
  std::string address() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  pid_t pid() const { return pid_; }
  std::string log() const;

  // Sends `signal`, waits up to `timeout` for exit; returns the exit status
  // (or -1 on timeout / abnormal exit).
  int StopWith(int signal, std::chrono::seconds timeout);

 private:
  pid_t pid_ = -1;
  int grpc_port_ = 0;
  int metrics_port_ = 0;
  int http_port_ = 0;
  std::string dir_;
  std::string log_path_;
};

// GET http://127.0.0.1:port/metrics; empty on failure.
std::string ScrapeMetrics(int port);

// The value of one sample line `name{labels} value` (labels as written, ""
// for none); -1 when absent.
double MetricValue(const std::string& text, const std::string& name_with_labels);

// Path of a fresh tiny random model folder, made once per test binary with
// codiff-model init.
const std::string& TinyModelDir();

// A server on the tiny test model (TinyModelDir) with `extra_yaml`; null,
// with a test failure saying why, when it does not start.
std::unique_ptr<ServerProcess> StartTinyServer(const std::string& extra_yaml);

// A width x height JPEG of a noisy gradient (deterministic for `seed`).
std::string MakeJpeg(int width, int height, int quality, int seed = 1);

}  // namespace codiff::testing
