using System;

namespace AvatarForcing.Unity
{
    /// <summary>Sample-format helpers: mix-down to mono.</summary>
    public static class AudioConvert
    {
        /// <summary>
        /// Averages the channels of <paramref name="count"/> frames of
        /// <paramref name="interleaved"/> starting at frame <paramref name="offsetFrames"/>.
        /// </summary>
        public static float[] ToMono(float[] interleaved, int channels, int offsetFrames, int count)
        {
            if (interleaved == null)
            {
                throw new ArgumentNullException("interleaved");
            }
            if (channels <= 0)
            {
                throw new ArgumentOutOfRangeException("channels");
            }
            var mono = new float[Math.Max(0, count)];
            if (channels == 1)
            {
                Array.Copy(interleaved, offsetFrames, mono, 0, mono.Length);
                return mono;
            }
            float scale = 1f / channels;
            for (int f = 0; f < mono.Length; f++)
            {
                int baseIndex = (offsetFrames + f) * channels;
                float sum = 0f;
                for (int c = 0; c < channels; c++)
                {
                    sum += interleaved[baseIndex + c];
                }
                mono[f] = sum * scale;
            }
            return mono;
        }

        /// <summary>Averages the channels of all frames of <paramref name="interleaved"/>.</summary>
        public static float[] ToMono(float[] interleaved, int channels)
        {
            if (interleaved == null)
            {
                throw new ArgumentNullException("interleaved");
            }
            return ToMono(interleaved, channels, 0, interleaved.Length / Math.Max(1, channels));
        }
    }

    /// <summary>
    /// A streaming mono sample-rate converter (linear interpolation, with a two-pole low-pass in
    /// front when it lowers the rate) that keeps its phase across chunks, so that a stream cut into
    /// arbitrary chunks converts exactly like the whole stream, with no drift.
    /// </summary>
    /// <remarks>
    /// The protocol fixes each audio stream's format with its first chunk, so the client converts
    /// every source (clips at any rate, the microphone, an output tap) to one stream rate.
    /// </remarks>
    public sealed class StreamResampler
    {
        private readonly double step;
        private readonly float lowPassAlpha;
        private double position;
        private float previous;
        private float lp1;
        private float lp2;

        /// <summary>Creates a converter from <paramref name="fromRate"/> to <paramref name="toRate"/> Hz.</summary>
        public StreamResampler(int fromRate, int toRate)
        {
            if (fromRate <= 0 || toRate <= 0)
            {
                throw new ArgumentOutOfRangeException("fromRate", "rates must be > 0");
            }
            FromRate = fromRate;
            ToRate = toRate;
            step = (double)fromRate / toRate;
            if (toRate < fromRate)
            {
                double cutoff = 0.45 * toRate;
                lowPassAlpha = (float)(1.0 - Math.Exp(-2.0 * Math.PI * cutoff / fromRate));
            }
            else
            {
                lowPassAlpha = 1f;
            }
        }

        /// <summary>The input rate.</summary>
        public int FromRate { get; private set; }

        /// <summary>The output rate.</summary>
        public int ToRate { get; private set; }

        /// <summary>Converts the next chunk of the stream; the output may be empty for a tiny chunk.</summary>
        public float[] Process(float[] mono)
        {
            if (mono == null)
            {
                throw new ArgumentNullException("mono");
            }
            int n = mono.Length;
            if (n == 0)
            {
                return new float[0];
            }
            float[] input = mono;
            if (lowPassAlpha < 1f)
            {
                input = new float[n];
                for (int i = 0; i < n; i++)
                {
                    lp1 += (mono[i] - lp1) * lowPassAlpha;
                    lp2 += (lp1 - lp2) * lowPassAlpha;
                    input[i] = lp2;
                }
            }
            if (FromRate == ToRate)
            {
                return (float[])input.Clone();
            }
            int estimate = (int)Math.Ceiling((n - position) / step) + 1;
            var output = new float[Math.Max(0, estimate)];
            int count = 0;
            while (position < n - 1 && count < output.Length)
            {
                int i0 = (int)Math.Floor(position);
                float frac = (float)(position - i0);
                float a = i0 < 0 ? previous : input[i0];
                float b = input[i0 + 1];
                output[count++] = a + (b - a) * frac;
                position += step;
            }
            position -= n;
            previous = input[n - 1];
            if (count != output.Length)
            {
                Array.Resize(ref output, count);
            }
            return output;
        }
    }
}
