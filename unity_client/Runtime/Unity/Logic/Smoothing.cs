using System;

namespace AvatarForcing.Unity
{
    /// <summary>
    /// Frame-rate independent exponential smoothing (a first-order low-pass filter).
    /// </summary>
    /// <remarks>
    /// Engine-free: no UnityEngine types, so it compiles and is unit-tested outside Unity.
    /// With a time constant <c>tau</c>, each step moves a value the fraction
    /// <c>1 - exp(-dt / tau)</c> of the way to its target, which gives the same curve whether the
    /// game runs at 30 or 240 frames per second (after <c>tau</c> seconds 63 % of a step is done).
    /// </remarks>
    public static class Smoothing
    {
        /// <summary>
        /// The fraction of the remaining distance covered in <paramref name="deltaTime"/> seconds:
        /// 1 (no smoothing) when <paramref name="timeConstant"/> is 0 or less, 0 when no time passed.
        /// </summary>
        public static float Alpha(float deltaTime, float timeConstant)
        {
            if (timeConstant <= 0f)
            {
                return 1f;
            }
            if (deltaTime <= 0f)
            {
                return 0f;
            }
            return (float)(1.0 - Math.Exp(-deltaTime / timeConstant));
        }

        /// <summary>One smoothing step of a single value: <c>current + alpha (target - current)</c>.</summary>
        public static float Step(float current, float target, float alpha)
        {
            return current + (target - current) * alpha;
        }

        /// <summary>
        /// One smoothing step of every element of <paramref name="state"/> toward
        /// <paramref name="target"/> (same length; the shorter length is used otherwise).
        /// </summary>
        public static void Step(float[] state, float[] target, float alpha)
        {
            if (state == null || target == null)
            {
                throw new ArgumentNullException(state == null ? "state" : "target");
            }
            int n = Math.Min(state.Length, target.Length);
            for (int i = 0; i < n; i++)
            {
                state[i] += (target[i] - state[i]) * alpha;
            }
        }
    }
}
