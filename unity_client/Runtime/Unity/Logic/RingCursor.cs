using System;

namespace AvatarForcing.Unity
{
    /// <summary>
    /// Follows the write position of a looping recording buffer (Unity's microphone clip) and says
    /// which samples are new since the last call.
    /// </summary>
    /// <remarks>
    /// Engine-free. <c>Microphone.GetPosition</c> returns the sample the recording is writing in
    /// a looping clip of <see cref="Length"/> samples; the new samples are those from the previous
    /// position up to it, wrapping at the end (<c>AudioClip.GetData</c> wraps the same way). Reading
    /// must happen at least once per loop: a whole loop between two calls is indistinguishable
    /// from none.
    /// </remarks>
    public sealed class RingCursor
    {
        private int last;
        private bool hasLast;

        /// <summary>Creates a cursor for a looping buffer of <paramref name="length"/> samples.</summary>
        public RingCursor(int length)
        {
            if (length <= 0)
            {
                throw new ArgumentOutOfRangeException("length");
            }
            Length = length;
        }

        /// <summary>The buffer's length in samples.</summary>
        public int Length { get; private set; }

        /// <summary>
        /// The number of new samples up to <paramref name="position"/>, and the offset
        /// (<paramref name="start"/>) of the first one. The first call only records the position
        /// (returns 0): audio recorded before it is not sent.
        /// </summary>
        public int Advance(int position, out int start)
        {
            if (position < 0 || position >= Length)
            {
                start = 0;
                return 0;
            }
            if (!hasLast)
            {
                last = position;
                hasLast = true;
                start = position;
                return 0;
            }
            start = last;
            int count = position - last;
            if (count < 0)
            {
                count += Length;
            }
            last = position;
            return count;
        }

        /// <summary>Forgets the position (the recording restarted).</summary>
        public void Reset()
        {
            hasLast = false;
            last = 0;
        }
    }
}
