// A threaded program of the kind replays get wrong when threads run free: producers
// build batches of std::map<std::string, std::vector<int>> and hand them to one
// consumer through a bounded queue of 8 batches; the consumer folds each batch into a
// running summary and destroys it, so nearly every free is a cross-thread free and the
// live set is bounded by the queue, not by the producers' speed. Deterministic: fixed
// seeds and counts; prints the summary, so runs under different allocators can be
// checked for the same output.
//
//   batch_queue [producers=2] [batches per producer=120] [keys per batch=1000]
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using Batch = std::map<std::string, std::vector<int>>;

class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity) {}

  void push(std::unique_ptr<Batch> batch) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_; });
    items_.push_back(std::move(batch));
    not_empty_.notify_one();
  }
  // Null once every producer is done and the queue is drained.
  std::unique_ptr<Batch> pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !items_.empty() || producers_left_ == 0; });
    if (items_.empty()) return nullptr;
    auto batch = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return batch;
  }
  void producer_done() {
    std::lock_guard lock(mutex_);
    --producers_left_;
    not_empty_.notify_all();
  }
  void expect_producers(int n) { producers_left_ = n; }

 private:
  std::mutex mutex_;
  std::condition_variable not_full_, not_empty_;
  std::deque<std::unique_ptr<Batch>> items_;
  size_t capacity_;
  int producers_left_ = 0;
};

std::unique_ptr<Batch> make_batch(std::mt19937& rng, int keys) {
  auto batch = std::make_unique<Batch>();
  std::uniform_int_distribution<int> key_length(4, 40), values(1, 60), value(0, 1 << 20);
  for (int k = 0; k < keys; ++k) {
    std::string key(static_cast<size_t>(key_length(rng)), 'a');
    for (char& c : key) c = static_cast<char>('a' + rng() % 26);
    std::vector<int>& list = (*batch)[key];
    int n = values(rng);
    for (int i = 0; i < n; ++i) list.push_back(value(rng));
  }
  return batch;
}

}  // namespace

int main(int argc, char** argv) {
  int producers = argc > 1 ? std::atoi(argv[1]) : 2;
  int batches = argc > 2 ? std::atoi(argv[2]) : 120;
  int keys = argc > 3 ? std::atoi(argv[3]) : 1000;
  if (producers < 1 || batches < 1 || keys < 1) {
    std::fprintf(stderr,
                 "usage: batch_queue [producers] [batches per producer] [keys per batch]\n");
    return 2;
  }
  BoundedQueue queue(8);
  queue.expect_producers(producers);
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&, p] {
      std::mt19937 rng(static_cast<unsigned>(1234 + p));
      for (int b = 0; b < batches; ++b) queue.push(make_batch(rng, keys));
      queue.producer_done();
    });
  }
  uint64_t entries = 0, values = 0, checksum = 0;
  std::map<char, uint64_t> by_initial;  // a long-lived structure the consumer keeps
  while (auto batch = queue.pop()) {
    uint64_t batch_sum = 0;  // batches arrive in any order: their sums are added
    for (const auto& [key, list] : *batch) {
      ++entries;
      values += list.size();
      for (int v : list) batch_sum = batch_sum * 31 + static_cast<uint64_t>(v);
      by_initial[key[0]] += list.size();
    }
    checksum += batch_sum;
  }
  for (auto& t : threads) t.join();
  std::printf("entries %llu values %llu checksum %016llx initials %zu\n",
              static_cast<unsigned long long>(entries), static_cast<unsigned long long>(values),
              static_cast<unsigned long long>(checksum), by_initial.size());
  return 0;
}
