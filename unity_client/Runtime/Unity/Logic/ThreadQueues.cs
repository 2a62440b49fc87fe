using System;
using System.Collections.Generic;

namespace AvatarForcing.Unity
{
    /// <summary>
    /// Actions posted from any thread and run, in order, by whoever calls <see cref="Drain"/>
    /// (the main thread's <c>Update</c>).
    /// </summary>
    /// <remarks>
    /// Engine-free. NativeWebSocket raises its events on different threads depending on its
    /// version and platform (1.x: open/close on the main thread, messages through
    /// <c>DispatchMessageQueue</c>; 2.x: through the main thread's <c>SynchronizationContext</c>;
    /// WebGL: from the browser's event loop); the transport funnels them all through this queue so
    /// the session only ever sees them inside its own <c>Update</c>.
    /// </remarks>
    public sealed class MainThreadQueue
    {
        private readonly object gate = new object();
        private List<Action> pending = new List<Action>();
        private List<Action> running = new List<Action>();

        /// <summary>Queues <paramref name="action"/>.</summary>
        public void Post(Action action)
        {
            if (action == null)
            {
                throw new ArgumentNullException("action");
            }
            lock (gate)
            {
                pending.Add(action);
            }
        }

        /// <summary>Actions waiting.</summary>
        public int Count
        {
            get
            {
                lock (gate)
                {
                    return pending.Count;
                }
            }
        }

        /// <summary>Runs every action queued before the call, in order; returns how many ran.</summary>
        public int Drain()
        {
            lock (gate)
            {
                var swap = pending;
                pending = running;
                running = swap;
            }
            int n = running.Count;
            try
            {
                for (int i = 0; i < running.Count; i++)
                {
                    running[i]();
                }
            }
            finally
            {
                running.Clear();
            }
            return n;
        }

        /// <summary>Drops every queued action.</summary>
        public void Clear()
        {
            lock (gate)
            {
                pending.Clear();
            }
        }
    }

    /// <summary>
    /// A bounded first-in first-out buffer of mono samples written by one thread (the audio thread)
    /// and read by another (the main thread); when full, the oldest samples are dropped.
    /// </summary>
    public sealed class SampleFifo
    {
        private readonly object gate = new object();
        private readonly float[] ring;
        private int head;
        private int count;
        private long dropped;

        /// <summary>Creates a buffer of <paramref name="capacity"/> samples.</summary>
        public SampleFifo(int capacity)
        {
            if (capacity <= 0)
            {
                throw new ArgumentOutOfRangeException("capacity");
            }
            ring = new float[capacity];
        }

        /// <summary>Samples waiting.</summary>
        public int Count
        {
            get
            {
                lock (gate)
                {
                    return count;
                }
            }
        }

        /// <summary>Samples dropped because the reader was too slow.</summary>
        public long Dropped
        {
            get
            {
                lock (gate)
                {
                    return dropped;
                }
            }
        }

        /// <summary>Appends the mono mix of <paramref name="interleaved"/> (<paramref name="channels"/> channels).</summary>
        public void WriteMixed(float[] interleaved, int channels)
        {
            if (interleaved == null || channels <= 0)
            {
                return;
            }
            int frames = interleaved.Length / channels;
            float scale = 1f / channels;
            lock (gate)
            {
                for (int f = 0; f < frames; f++)
                {
                    float sum = 0f;
                    for (int c = 0; c < channels; c++)
                    {
                        sum += interleaved[f * channels + c];
                    }
                    if (count == ring.Length)
                    {
                        head = (head + 1) % ring.Length;
                        count--;
                        dropped++;
                    }
                    ring[(head + count) % ring.Length] = sum * scale;
                    count++;
                }
            }
        }

        /// <summary>Takes every waiting sample (an empty array when none).</summary>
        public float[] ReadAll()
        {
            lock (gate)
            {
                var result = new float[count];
                for (int i = 0; i < count; i++)
                {
                    result[i] = ring[(head + i) % ring.Length];
                }
                head = 0;
                count = 0;
                return result;
            }
        }

        /// <summary>Drops every waiting sample.</summary>
        public void Clear()
        {
            lock (gate)
            {
                head = 0;
                count = 0;
            }
        }
    }
}
