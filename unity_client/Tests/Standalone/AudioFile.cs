// Standalone test code (Mono/.NET): kept out of Unity builds, which compile Runtime/ only.
#if !UNITY_5_3_OR_NEWER
using System;
using System.IO;
using System.Text;

namespace AvatarForcing.Standalone
{
    /// <summary>Reads test audio: a WAV file (PCM int16 or IEEE float32, any channels: mixed
    /// to mono) or a raw little-endian float32 mono file (<c>.f32</c>/<c>.raw</c>, 16 kHz);
    /// or makes a voiced test signal.</summary>
    public static class AudioFile
    {
        /// <summary>Mono samples (-1..1) and their sample rate.</summary>
        public static float[] Read(string path, out int rate)
        {
            byte[] bytes = File.ReadAllBytes(path);
            string ext = Path.GetExtension(path).ToLowerInvariant();
            if (ext == ".f32" || ext == ".raw")
            {
                rate = 16000;
                return Pcm.F32leToFloat(bytes);
            }
            return ReadWav(bytes, out rate);
        }

        private static float[] ReadWav(byte[] b, out int rate)
        {
            if (b.Length < 12 || Encoding.ASCII.GetString(b, 0, 4) != "RIFF" || Encoding.ASCII.GetString(b, 8, 4) != "WAVE")
                throw new InvalidDataException("not a RIFF/WAVE file");
            int pos = 12;
            int format = 0, channels = 0, bits = 0;
            rate = 0;
            while (pos + 8 <= b.Length)
            {
                string id = Encoding.ASCII.GetString(b, pos, 4);
                int size = BitConverter.ToInt32(b, pos + 4);
                int body = pos + 8;
                if (id == "fmt ")
                {
                    format = BitConverter.ToUInt16(b, body);
                    channels = BitConverter.ToUInt16(b, body + 2);
                    rate = BitConverter.ToInt32(b, body + 4);
                    bits = BitConverter.ToUInt16(b, body + 14);
                    if (format == 0xFFFE && size >= 26) format = BitConverter.ToUInt16(b, body + 24); // extensible
                }
                else if (id == "data")
                {
                    if (channels == 0) throw new InvalidDataException("WAV data before its fmt chunk");
                    int length = Math.Min(size, b.Length - body);
                    var data = new byte[length];
                    Buffer.BlockCopy(b, body, data, 0, length);
                    float[] interleaved;
                    if (format == 1 && bits == 16) interleaved = Pcm.S16leToFloat(data);
                    else if (format == 3 && bits == 32) interleaved = Pcm.F32leToFloat(data);
                    else throw new InvalidDataException("WAV format " + format + " with " + bits + " bits is not supported (int16 or float32)");
                    return MixToMono(interleaved, channels);
                }
                pos = body + size + (size & 1);
            }
            throw new InvalidDataException("WAV file without a data chunk");
        }

        private static float[] MixToMono(float[] interleaved, int channels)
        {
            if (channels == 1) return interleaved;
            var mono = new float[interleaved.Length / channels];
            for (int i = 0; i < mono.Length; i++)
            {
                float sum = 0;
                for (int c = 0; c < channels; c++) sum += interleaved[i * channels + c];
                mono[i] = sum / channels;
            }
            return mono;
        }

        /// <summary>A loud voiced-sounding signal (harmonics of a wavering 140-Hz pitch with a
        /// syllable envelope), like <c>tests/helpers.py</c>'s <c>speech()</c>.</summary>
        public static float[] Speech(double seconds, int rate)
        {
            var x = new float[(int)(seconds * rate)];
            double phase = 0;
            var random = new Random(0);
            for (int i = 0; i < x.Length; i++)
            {
                double t = (double)i / rate;
                double f0 = 140 + 20 * Math.Sin(2 * Math.PI * 0.7 * t);
                phase += 2 * Math.PI * f0 / rate;
                double v = 0;
                for (int k = 1; k < 8; k++) v += Math.Sin(k * phase) / k;
                double envelope = 0.5 + 0.5 * Math.Abs(Math.Sin(2 * Math.PI * 2.5 * t));
                x[i] = (float)(0.25 * v * envelope + 0.01 * (random.NextDouble() * 2 - 1));
            }
            return x;
        }
    }
}
#endif
