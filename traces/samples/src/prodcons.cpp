// The producer/consumer sample's program: producers allocate messages of mixed sizes
// and hand them through a bounded queue to consumers, which free them, so most frees
// happen on another thread than the malloc (the case per-thread caches and arenas
// handle worst). Some messages are kept in a per-consumer window and freed later,
// for a mix of lifetimes. Deterministic: fixed seeds, fixed counts.
//
//   prodcons [producers=2] [consumers=2] [messages per producer=60000]
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace {

struct Message {
  uint64_t producer = 0, sequence = 0;
  size_t size = 0;
  unsigned char* payload = nullptr;  // malloc'd by the producer, freed by a consumer
};

class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity) {}

  void push(Message m) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_; });
    items_.push_back(m);
    not_empty_.notify_one();
  }
  // False once the queue is closed and drained.
  bool pop(Message& out) {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !items_.empty() || closed_; });
    if (items_.empty()) return false;
    out = items_.front();
    items_.pop_front();
    not_full_.notify_one();
    return true;
  }
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
  }

 private:
  std::mutex mutex_;
  std::condition_variable not_full_, not_empty_;
  std::deque<Message> items_;
  size_t capacity_;
  bool closed_ = false;
};

// Mostly small messages, some medium, a few large: a typical RPC-ish mix.
size_t message_size(std::mt19937_64& rng) {
  uint64_t r = rng() % 1000;
  if (r < 700) return 16 + rng() % 112;
  if (r < 970) return 128 + rng() % 3968;
  return 4096 + rng() % (256 * 1024);
}

void produce(BoundedQueue& q, uint64_t id, uint64_t count) {
  std::mt19937_64 rng(0x5eed0000 + id);
  for (uint64_t i = 0; i < count; ++i) {
    Message m{id, i, message_size(rng), nullptr};
    m.payload = static_cast<unsigned char*>(std::malloc(m.size));
    if (!m.payload) std::abort();
    std::memset(m.payload, static_cast<int>(i & 0xff), m.size < 64 ? m.size : 64);
    q.push(m);
  }
}

uint64_t consume(BoundedQueue& q, uint64_t id) {
  std::mt19937_64 rng(0xc0ffee + id);
  std::vector<unsigned char*> window(256, nullptr);  // longer-lived survivors
  uint64_t checksum = 0;
  Message m;
  while (q.pop(m)) {
    checksum += m.payload[0] + m.size;
    if (rng() % 8 == 0) {
      unsigned char*& slot = window[rng() % window.size()];
      std::free(slot);
      slot = m.payload;
    } else {
      std::free(m.payload);
    }
  }
  for (auto* p : window) std::free(p);
  return checksum;
}

uint64_t arg(int argc, char** argv, int i, uint64_t fallback) {
  return argc > i ? std::strtoull(argv[i], nullptr, 10) : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t producers = arg(argc, argv, 1, 2), consumers = arg(argc, argv, 2, 2);
  uint64_t messages = arg(argc, argv, 3, 60000);
  BoundedQueue queue(1024);
  std::vector<std::thread> producer_threads, consumer_threads;
  std::vector<uint64_t> sums(consumers);
  for (uint64_t c = 0; c < consumers; ++c)
    consumer_threads.emplace_back([&, c] { sums[c] = consume(queue, c); });
  for (uint64_t p = 0; p < producers; ++p)
    producer_threads.emplace_back([&, p] { produce(queue, p, messages); });
  for (auto& t : producer_threads) t.join();
  queue.close();
  for (auto& t : consumer_threads) t.join();
  uint64_t total = 0;
  for (auto s : sums) total += s;
  return total == 0;  // keeps the work observable
}
