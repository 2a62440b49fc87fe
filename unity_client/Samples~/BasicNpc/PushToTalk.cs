using AvatarForcing.Unity;
using UnityEngine;

namespace AvatarForcing.Samples
{
    /// <summary>
    /// Turn cues from your own input code: call <see cref="Press"/> and <see cref="Release"/> from a
    /// button, a key binding of either input system, or a voice-activity detector. Pressing while the
    /// NPC speaks barges in.
    /// </summary>
    [AddComponentMenu("Avatar Forcing/Samples/Push To Talk")]
    public sealed class PushToTalk : MonoBehaviour
    {
        [SerializeField]
        private AvatarForcingClient client;

        [Tooltip("Interrupt the NPC when the user starts talking while it speaks.")]
        [SerializeField]
        private bool bargeIn = true;

        private bool pressed;

        /// <summary>The user starts talking.</summary>
        public void Press()
        {
            if (client == null || pressed)
            {
                return;
            }
            pressed = true;
            if (bargeIn && client.IsSpeaking)
            {
                client.Interrupt();
            }
            client.UserStartedSpeaking();
            client.StartMicrophone();
        }

        /// <summary>The user stops talking.</summary>
        public void Release()
        {
            if (client == null || !pressed)
            {
                return;
            }
            pressed = false;
            client.StopMicrophone();
            client.UserStoppedSpeaking();
        }
    }
}
