using System;
using AvatarForcing;
using AvatarForcing.Unity;
using UnityEngine;

namespace AvatarForcing.Samples
{
    /// <summary>
    /// The Basic NPC sample's controller: an on-screen panel (IMGUI, works with either input
    /// system) to speak lines, barge in, give push-to-talk cues and toggle the microphone, plus a
    /// synthetic "voice" so the face can be tried without any TTS or audio asset.
    /// </summary>
    [AddComponentMenu("Avatar Forcing/Samples/Basic NPC Demo")]
    public sealed class BasicNpcDemo : MonoBehaviour
    {
        [Tooltip("The NPC's client.")]
        [SerializeField]
        private AvatarForcingClient client;

        [Tooltip("Voice lines (e.g. TTS output saved as WAV; import with Load Type 'Decompress On Load').")]
        [SerializeField]
        private AudioClip[] lines = new AudioClip[0];

        [Tooltip("Speak the first line as soon as the session is ready.")]
        [SerializeField]
        private bool greetOnConnect = true;

        private int nextLine;
        private bool userTalking;
        private bool micOn;
        private bool greeted;
        private string lastTurn = "-";

        private void Awake()
        {
            if (client == null)
            {
                client = GetComponent<AvatarForcingClient>();
            }
        }

        private void OnEnable()
        {
            if (client != null)
            {
                client.TurnEventReceived += OnTurn;
            }
        }

        private void OnDisable()
        {
            if (client != null)
            {
                client.TurnEventReceived -= OnTurn;
            }
        }

        private void Update()
        {
            if (greetOnConnect && !greeted && client != null && client.IsReady)
            {
                greeted = true;
                SpeakNext();
            }
        }

        private void OnTurn(TurnEventInfo e)
        {
            lastTurn = e.Event + " -> " + e.State + " (" + e.Source + ", t=" + e.T.ToString("0.00") + ")";
        }

        /// <summary>Speaks the next voice line, or the synthetic voice when there are none.</summary>
        public void SpeakNext()
        {
            if (client == null)
            {
                return;
            }
            if (lines != null && lines.Length > 0)
            {
                client.Speak(lines[nextLine % lines.Length]);
                nextLine++;
            }
            else
            {
                const int rate = 24000;
                client.Speak(SyntheticVoice.Generate(2.5, rate, nextLine++), rate, 1);
            }
        }

        private void OnGUI()
        {
            if (client == null)
            {
                GUILayout.Label("BasicNpcDemo: assign an AvatarForcingClient.");
                return;
            }
            GUILayout.Label("Avatar Forcing: " + client.State + (client.SessionId != null ? "  session " + client.SessionId : string.Empty));
            GUILayout.Label("Face time " + client.DisplayTime.ToString("0.00") + " s, newest motion frame " + client.Timeline.NewestFrame);
            GUILayout.Label("Last turn event: " + lastTurn);
            if (GUILayout.Button(client.IsReady ? "Disconnect" : "Connect"))
            {
                if (client.IsReady)
                {
                    client.Disconnect();
                }
                else
                {
                    client.Connect();
                }
            }
            if (GUILayout.Button("Speak next line"))
            {
                SpeakNext();
            }
            if (GUILayout.Button("Interrupt (barge-in)"))
            {
                client.Interrupt();
            }
            if (GUILayout.Button(userTalking ? "User: stop talking (user_stop)" : "User: start talking (user_start)"))
            {
                userTalking = !userTalking;
                if (userTalking)
                {
                    client.UserStartedSpeaking();
                }
                else
                {
                    client.UserStoppedSpeaking();
                }
            }
            if (GUILayout.Button(micOn ? "Microphone off" : "Microphone on"))
            {
                micOn = !micOn;
                if (micOn)
                {
                    client.StartMicrophone();
                }
                else
                {
                    client.StopMicrophone();
                }
            }
        }
    }

    /// <summary>
    /// A speech-like test signal: a buzzy vowel with a syllable rhythm (about 4 syllables a second)
    /// and pauses, enough to make the mouth open and close without a TTS engine.
    /// </summary>
    public static class SyntheticVoice
    {
        /// <summary><paramref name="seconds"/> of mono samples at <paramref name="rate"/> Hz; <paramref name="variant"/> changes the pitch.</summary>
        public static float[] Generate(double seconds, int rate, int variant)
        {
            int n = (int)(seconds * rate);
            var samples = new float[n];
            double f0 = 110.0 + 15.0 * (variant % 4);
            double phase = 0.0;
            for (int i = 0; i < n; i++)
            {
                double t = (double)i / rate;
                double syllable = Math.Max(0.0, Math.Sin(2.0 * Math.PI * 4.0 * t));
                double phrase = (t % 1.25) < 1.0 ? 1.0 : 0.0;
                double pitch = f0 * (1.0 + 0.05 * Math.Sin(2.0 * Math.PI * 0.7 * t));
                phase += 2.0 * Math.PI * pitch / rate;
                double buzz = 0.0;
                for (int h = 1; h <= 12; h++)
                {
                    double formant = Math.Exp(-Math.Pow((h * pitch - 700.0) / 500.0, 2.0)) + 0.4 * Math.Exp(-Math.Pow((h * pitch - 1200.0) / 400.0, 2.0));
                    buzz += formant * Math.Sin(h * phase) / h;
                }
                samples[i] = (float)(0.3 * buzz * syllable * phrase);
            }
            return samples;
        }
    }
}
