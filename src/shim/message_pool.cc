// Memory for Message objects (Message::operator new/delete).
//
// A message is allocated on the sending thread and freed on the receiving one. With malloc,
// that pattern defeats the per-thread caches: the sender always takes the slow path and the
// receiver's frees contend for the sender's arena lock (about a tenth of a streaming
// receiver's time). Here each thread allocates from its own pool; a block freed by another
// thread goes back to its pool's remote list (one CAS), which the owner takes whole (one
// exchange) when its local list runs dry. Pushing onto a list and taking it whole is free of
// the ABA problem.
//
// Pools are never freed (a message may be freed long after its thread ended): a thread that
// exits leaves its pool to the next thread that needs one. Each pool keeps about kKeep blocks
// in each list; the rest go back to malloc.
#include "shim.h"

#include <cstdlib>
#include <mutex>
#include <new>

namespace corral {
namespace {

struct FreeBlock {
  FreeBlock* next;
};

struct alignas(64) Pool {
  std::atomic<FreeBlock*> remote{nullptr};  // pushed by other threads
  std::atomic<size_t> remote_count{0};       // about how many: past kKeep, frees go to malloc
  alignas(64) FreeBlock* local = nullptr;   // the owning thread's
  size_t local_count = 0;
  Pool* next_spare = nullptr;  // on the spare list while no thread owns it
};

// Precedes each block; keeps the message 16-byte aligned.
struct alignas(16) Header {
  Pool* pool;
};

constexpr size_t kKeep = 4096;

// Leaked on purpose: threads may still free messages while statics are destroyed at exit.
std::mutex& SpareMutex() {
  static auto* mutex = new std::mutex();
  return *mutex;
}
Pool* g_spare = nullptr;

void FreeList(FreeBlock* block) {
  while (block != nullptr) {
    FreeBlock* next = block->next;
    std::free(block);
    block = next;
  }
}

struct ThreadPool {
  Pool* pool = nullptr;
  ~ThreadPool() {
    Pool* gone = pool;
    if (gone == nullptr) return;
    pool = nullptr;  // a free later in this thread's exit takes the remote path
    FreeList(gone->local);
    gone->local = nullptr;
    gone->local_count = 0;
    FreeList(gone->remote.exchange(nullptr, std::memory_order_acquire));
    gone->remote_count.store(0, std::memory_order_relaxed);
    std::lock_guard<std::mutex> lock(SpareMutex());
    gone->next_spare = g_spare;
    g_spare = gone;
  }
};

thread_local ThreadPool t_pool;

Pool* ThisThreadPool() {
  if (t_pool.pool != nullptr) return t_pool.pool;
  {
    std::lock_guard<std::mutex> lock(SpareMutex());
    if (g_spare != nullptr) {
      t_pool.pool = g_spare;
      g_spare = g_spare->next_spare;
    }
  }
  if (t_pool.pool == nullptr) t_pool.pool = new Pool();
  return t_pool.pool;
}

// Takes the blocks other threads gave back, keeping up to kKeep.
void Reclaim(Pool* pool) {
  FreeBlock* block = pool->remote.exchange(nullptr, std::memory_order_acquire);
  pool->remote_count.store(0, std::memory_order_relaxed);
  while (block != nullptr && pool->local_count < kKeep) {
    FreeBlock* next = block->next;
    block->next = pool->local;
    pool->local = block;
    pool->local_count++;
    block = next;
  }
  FreeList(block);
}

constexpr size_t kBlockSize = sizeof(Header) + sizeof(Message);
static_assert(sizeof(FreeBlock) <= kBlockSize, "a block holds a free-list link");

}  // namespace

void* Message::operator new(size_t size) {
  if (size != sizeof(Message)) throw std::bad_alloc();
  Pool* pool = ThisThreadPool();
  if (pool->local == nullptr) Reclaim(pool);
  void* block = pool->local;
  if (block != nullptr) {
    pool->local = pool->local->next;
    pool->local_count--;
  } else {
    block = std::malloc(kBlockSize);
    if (block == nullptr) throw std::bad_alloc();
  }
  auto* header = static_cast<Header*>(block);
  header->pool = pool;
  return header + 1;
}

void Message::operator delete(void* ptr) {
  if (ptr == nullptr) return;
  Header* header = static_cast<Header*>(ptr) - 1;
  Pool* pool = header->pool;
  auto* block = reinterpret_cast<FreeBlock*>(header);
  if (pool == t_pool.pool) {
    if (pool->local_count >= kKeep) {
      std::free(block);
      return;
    }
    block->next = pool->local;
    pool->local = block;
    pool->local_count++;
    return;
  }
  if (pool->remote_count.fetch_add(1, std::memory_order_relaxed) >= kKeep) {
    std::free(block);
    return;
  }
  FreeBlock* head = pool->remote.load(std::memory_order_relaxed);
  do {
    block->next = head;
  } while (!pool->remote.compare_exchange_weak(head, block, std::memory_order_release,
                                               std::memory_order_relaxed));
}

}  // namespace corral
