using System;

namespace AvatarForcing
{
    /// <summary>
    /// PCM audio as the protocol carries it: little-endian int16 (<c>"s16le"</c>) or float32
    /// (<c>"f32le"</c>), interleaved frame by frame (<c>L R L R ...</c>), whatever the byte order
    /// of the machine.
    /// </summary>
    /// <remarks>
    /// Samples are floats in the nominal range -1..1 (Unity's <c>AudioClip</c> convention).
    /// int16 maps to float as <c>x / 32768</c>; float to int16 clips to -1..1 and rounds to the
    /// nearest step (<c>round(x * 32768)</c> clamped to -32768..32767), like the server's
    /// <c>plugin_server/protocol/pcm.py</c>. NaN encodes as 0 in int16.
    /// </remarks>
    public static class Pcm
    {
        /// <summary>The protocol name of little-endian int16 samples.</summary>
        public const string S16le = "s16le";

        /// <summary>The protocol name of little-endian float32 samples.</summary>
        public const string F32le = "f32le";

        /// <summary>Bytes per sample of a protocol sample format (2 or 4). Throws
        /// <see cref="ArgumentException"/> for other formats.</summary>
        public static int BytesPerSample(string format)
        {
            if (format == S16le) return 2;
            if (format == F32le) return 4;
            throw new ArgumentException("unknown sample format '" + format + "'; valid: s16le, f32le", "format");
        }

        /// <summary>Float samples to s16le bytes: <paramref name="count"/> samples from
        /// <paramref name="offset"/> give <c>2 * count</c> bytes.</summary>
        public static byte[] FloatToS16le(float[] samples, int offset, int count)
        {
            CheckRange(samples, offset, count);
            var bytes = new byte[count * 2];
            for (int i = 0; i < count; i++)
            {
                short q = FloatToShort(samples[offset + i]);
                bytes[2 * i] = (byte)(q & 0xFF);
                bytes[2 * i + 1] = (byte)((q >> 8) & 0xFF);
            }
            return bytes;
        }

        /// <summary>All of <paramref name="samples"/> as s16le bytes.</summary>
        public static byte[] FloatToS16le(float[] samples)
        {
            return FloatToS16le(samples, 0, samples == null ? 0 : samples.Length);
        }

        /// <summary>One float sample as int16: clipped, rounded to the nearest step.</summary>
        public static short FloatToShort(float x)
        {
            if (float.IsNaN(x)) return 0;
            double v = Math.Round((double)x * 32768.0, MidpointRounding.ToEven);
            if (v >= 32767.0) return short.MaxValue;
            if (v <= -32768.0) return short.MinValue;
            return (short)v;
        }

        /// <summary>s16le bytes to float samples (<c>bytes.Length / 2</c> of them). Throws
        /// <see cref="ArgumentException"/> for an odd byte count.</summary>
        public static float[] S16leToFloat(byte[] bytes)
        {
            if (bytes == null) throw new ArgumentNullException("bytes");
            if (bytes.Length % 2 != 0) throw new ArgumentException("s16le data must have an even number of bytes", "bytes");
            var samples = new float[bytes.Length / 2];
            for (int i = 0; i < samples.Length; i++)
            {
                short q = (short)(bytes[2 * i] | (bytes[2 * i + 1] << 8));
                samples[i] = q / 32768f;
            }
            return samples;
        }

        /// <summary>Float samples to f32le bytes: <paramref name="count"/> samples from
        /// <paramref name="offset"/> give <c>4 * count</c> bytes. Non-finite samples throw
        /// <see cref="ArgumentException"/> (the server refuses them).</summary>
        public static byte[] FloatToF32le(float[] samples, int offset, int count)
        {
            CheckRange(samples, offset, count);
            var bytes = new byte[count * 4];
            for (int i = 0; i < count; i++)
            {
                float x = samples[offset + i];
                if (float.IsNaN(x) || float.IsInfinity(x)) throw new ArgumentException("f32le samples must be finite", "samples");
                byte[] b = BitConverter.GetBytes(x);
                if (!BitConverter.IsLittleEndian) Array.Reverse(b);
                Buffer.BlockCopy(b, 0, bytes, 4 * i, 4);
            }
            return bytes;
        }

        /// <summary>All of <paramref name="samples"/> as f32le bytes.</summary>
        public static byte[] FloatToF32le(float[] samples)
        {
            return FloatToF32le(samples, 0, samples == null ? 0 : samples.Length);
        }

        /// <summary>f32le bytes to float samples (<c>bytes.Length / 4</c> of them). Throws
        /// <see cref="ArgumentException"/> when the byte count is not a multiple of 4.</summary>
        public static float[] F32leToFloat(byte[] bytes)
        {
            if (bytes == null) throw new ArgumentNullException("bytes");
            if (bytes.Length % 4 != 0) throw new ArgumentException("f32le data must be a multiple of 4 bytes", "bytes");
            var samples = new float[bytes.Length / 4];
            if (BitConverter.IsLittleEndian)
            {
                Buffer.BlockCopy(bytes, 0, samples, 0, bytes.Length);
                return samples;
            }
            var b = new byte[4];
            for (int i = 0; i < samples.Length; i++)
            {
                Buffer.BlockCopy(bytes, 4 * i, b, 0, 4);
                Array.Reverse(b);
                samples[i] = BitConverter.ToSingle(b, 0);
            }
            return samples;
        }

        /// <summary>Bytes in a protocol sample format to float samples.</summary>
        public static float[] Decode(byte[] bytes, string format)
        {
            if (format == S16le) return S16leToFloat(bytes);
            if (format == F32le) return F32leToFloat(bytes);
            throw new ArgumentException("unknown sample format '" + format + "'; valid: s16le, f32le", "format");
        }

        /// <summary>Float samples to bytes in a protocol sample format.</summary>
        public static byte[] Encode(float[] samples, int offset, int count, string format)
        {
            if (format == S16le) return FloatToS16le(samples, offset, count);
            if (format == F32le) return FloatToF32le(samples, offset, count);
            throw new ArgumentException("unknown sample format '" + format + "'; valid: s16le, f32le", "format");
        }

        private static void CheckRange(float[] samples, int offset, int count)
        {
            if (samples == null) throw new ArgumentNullException("samples");
            if (offset < 0 || count < 0 || offset > samples.Length - count)
                throw new ArgumentOutOfRangeException("count", "offset and count must lie within the samples");
        }
    }
}
