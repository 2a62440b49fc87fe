using System;

namespace AvatarForcing.Unity
{
    /// <summary>
    /// The received face motion on the session clock: motion blocks go in by frame number, and
    /// the frame for any time comes out, interpolated between the two frames around it.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Engine-free. Frame <c>k</c> is at <c>k / fps</c> seconds (the protocol's avatar-audio
    /// clock), so a time <c>t</c> falls between frames <c>floor(t fps)</c> and the next; the 58
    /// channels (<see cref="ArkitNames.All"/> order: 52 blendshapes, then head yaw/pitch/roll in
    /// degrees and head x/y/z in cm) are linearly interpolated. Where the next frame has not
    /// arrived, the last one is held; a time more than <see cref="MaxHoldSeconds"/> past the newest
    /// frame has no motion (the drivers then relax to the rest pose).
    /// </para>
    /// <para>
    /// Frames are kept in a ring of <see cref="Capacity"/> frames (20 s by default); older ones are
    /// overwritten. Blocks in any ARKit spelling are accepted; channels a block does not name are
    /// 0 (neutral); channels of other namings (<c>vrm</c>, <c>vts</c>) are ignored, so the session
    /// must use <c>naming: arkit</c>.
    /// </para>
    /// </remarks>
    public sealed class MotionTimeline
    {
        /// <summary>58: the channels of a frame (<see cref="ArkitNames.Count"/>).</summary>
        public const int ChannelCount = ArkitNames.Count;

        private readonly int[] frameOf;
        private readonly float[][] rows;
        private string[] cachedNames;
        private int[] cachedColumns;
        private int newest = -1;

        /// <summary>Creates an empty timeline of <paramref name="capacityFrames"/> frames at <paramref name="fps"/>.</summary>
        public MotionTimeline(int capacityFrames = 500, int fps = 25)
        {
            if (capacityFrames < 2)
            {
                throw new ArgumentOutOfRangeException("capacityFrames", "at least 2 frames");
            }
            if (fps <= 0)
            {
                throw new ArgumentOutOfRangeException("fps");
            }
            Capacity = capacityFrames;
            Fps = fps;
            MaxHoldSeconds = 0.5;
            frameOf = new int[capacityFrames];
            rows = new float[capacityFrames][];
            for (int i = 0; i < capacityFrames; i++)
            {
                frameOf[i] = -1;
                rows[i] = new float[ChannelCount];
            }
        }

        /// <summary>Frames kept.</summary>
        public int Capacity { get; private set; }

        /// <summary>Frames per second of the session (25; from <c>welcome.fps</c>).</summary>
        public int Fps { get; set; }

        /// <summary>How long past the newest frame it is still held (seconds); later times have no motion.</summary>
        public double MaxHoldSeconds { get; set; }

        /// <summary>The newest frame number, or -1 when empty.</summary>
        public int NewestFrame
        {
            get { return newest; }
        }

        /// <summary>Whether no frame has arrived since the last <see cref="Clear"/>.</summary>
        public bool IsEmpty
        {
            get { return newest < 0; }
        }

        /// <summary>The time of the newest frame (seconds), or 0 when empty.</summary>
        public double NewestTime
        {
            get { return newest < 0 ? 0.0 : (double)newest / Fps; }
        }

        /// <summary>Adds every frame of <paramref name="block"/>; returns how many were added.</summary>
        public int Add(MotionBlock block)
        {
            if (block == null || block.Values == null)
            {
                return 0;
            }
            int[] columns = ColumnsFor(block.Names);
            var row = new float[ChannelCount];
            int added = 0;
            for (int i = 0; i < block.Values.Length; i++)
            {
                float[] values = block.Values[i];
                if (values == null)
                {
                    continue;
                }
                Array.Clear(row, 0, row.Length);
                int n = Math.Min(values.Length, columns.Length);
                for (int j = 0; j < n; j++)
                {
                    int c = columns[j];
                    if (c >= 0)
                    {
                        row[c] = values[j];
                    }
                }
                AddFrame(block.Frame + i, row);
                added++;
            }
            return added;
        }

        /// <summary>Stores frame <paramref name="frame"/> (58 values in canonical order; copied).</summary>
        public void AddFrame(int frame, float[] values)
        {
            if (values == null)
            {
                throw new ArgumentNullException("values");
            }
            if (frame < 0)
            {
                throw new ArgumentOutOfRangeException("frame");
            }
            int slot = frame % Capacity;
            frameOf[slot] = frame;
            Array.Clear(rows[slot], 0, ChannelCount);
            Array.Copy(values, rows[slot], Math.Min(values.Length, ChannelCount));
            if (frame > newest)
            {
                newest = frame;
            }
        }

        /// <summary>Whether frame <paramref name="frame"/> is held.</summary>
        public bool HasFrame(int frame)
        {
            return frame >= 0 && frameOf[frame % Capacity] == frame;
        }

        /// <summary>Copies frame <paramref name="frame"/> into <paramref name="destination"/>; false when it is not held.</summary>
        public bool TryGetFrame(int frame, float[] destination)
        {
            if (!HasFrame(frame))
            {
                return false;
            }
            Array.Copy(rows[frame % Capacity], destination, Math.Min(destination.Length, ChannelCount));
            return true;
        }

        /// <summary>
        /// The motion at session time <paramref name="time"/> into <paramref name="destination"/>
        /// (at least 58 values): interpolated between the frames around it, else the nearest earlier
        /// frame held, else (before every held frame) the oldest one. False (destination untouched)
        /// when empty or when <paramref name="time"/> is more than <see cref="MaxHoldSeconds"/> past
        /// the newest frame.
        /// </summary>
        public bool Sample(double time, float[] destination)
        {
            if (destination == null)
            {
                throw new ArgumentNullException("destination");
            }
            if (newest < 0 || double.IsNaN(time) || time > NewestTime + MaxHoldSeconds)
            {
                return false;
            }
            double f = time * Fps;
            int i0 = f <= 0.0 ? 0 : (int)Math.Min(Math.Floor(f), newest);
            float frac = f <= 0.0 ? 0f : (float)Math.Min(1.0, f - i0);
            if (HasFrame(i0))
            {
                float[] a = rows[i0 % Capacity];
                if (frac > 0f && HasFrame(i0 + 1))
                {
                    float[] b = rows[(i0 + 1) % Capacity];
                    for (int c = 0; c < ChannelCount; c++)
                    {
                        destination[c] = a[c] + (b[c] - a[c]) * frac;
                    }
                }
                else
                {
                    Array.Copy(a, destination, ChannelCount);
                }
                return true;
            }
            for (int k = i0 - 1; k >= 0 && k > i0 - Capacity; k--)
            {
                if (HasFrame(k))
                {
                    Array.Copy(rows[k % Capacity], destination, ChannelCount);
                    return true;
                }
            }
            for (int k = i0 + 1; k <= newest; k++)
            {
                if (HasFrame(k))
                {
                    Array.Copy(rows[k % Capacity], destination, ChannelCount);
                    return true;
                }
            }
            return false;
        }

        /// <summary>Forgets every frame (a new session).</summary>
        public void Clear()
        {
            for (int i = 0; i < Capacity; i++)
            {
                frameOf[i] = -1;
            }
            newest = -1;
        }

        private int[] ColumnsFor(string[] names)
        {
            if (names == null)
            {
                names = ArkitNames.All;
            }
            if (cachedNames != null && SameNames(cachedNames, names))
            {
                return cachedColumns;
            }
            var columns = new int[names.Length];
            for (int j = 0; j < names.Length; j++)
            {
                columns[j] = ArkitNames.IndexOf(names[j]);
            }
            cachedNames = (string[])names.Clone();
            cachedColumns = columns;
            return columns;
        }

        private static bool SameNames(string[] a, string[] b)
        {
            if (a.Length != b.Length)
            {
                return false;
            }
            for (int i = 0; i < a.Length; i++)
            {
                if (!string.Equals(a[i], b[i], StringComparison.Ordinal))
                {
                    return false;
                }
            }
            return true;
        }
    }
}
