// The writer side: owns the TraceWriter, drains the threads' ready chunks in order,
// saves the partial chunk of a thread that died, and writes kThreadExit for it. The
// writer thread does this in the background; exec, exit and a thread that finds its
// ring full do it synchronously under the same lock.
#pragma once

#include <cstdint>

#include "thread_record.hpp"

namespace mtreplay::recorder::sink {

// Opens `path` and writes the header. False (errno set) on failure.
bool open(const char* path, uint32_t parent_trace_pid);

void lock();
bool try_lock();
void unlock();

// Writes every ready chunk of every thread. Caller holds the lock.
void drain_all();
// The thread of `rec` is gone (or the process is ending): write what it left and its
// kThreadExit, stamped after every event written, then free the record. Caller holds
// the lock.
void finish_record(ThreadRecord* rec);
// Writes the end-of-trace record (reason exit, the unrecorded-call count) and closes
// the file. Caller holds the lock.
void close();

// An exec is about to run: saves what every other thread committed and writes the
// end-of-trace record (reason exec), keeping the file open. If the exec fails,
// resume_after_exec() removes that record again and recording continues. Caller holds
// the lock throughout.
void end_for_exec();
void resume_after_exec();

// A chunk was published: wake the writer thread.
void wake();

void start_writer_thread();
void join_writer_thread();

// In a forked child: the inherited trace file belongs to the parent. Close our
// descriptor without writing anything and forget the writer's state.
void abandon_in_child();

}  // namespace mtreplay::recorder::sink
