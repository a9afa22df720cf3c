"""The Prompt Variations explorer in the browser: page settings and navigation."""

import streamlit as st

from variations.ui import about, explore

st.set_page_config(
    page_title="Prompt Variations explorer",
    page_icon=":material/tune:",
    layout="wide",
)
st.navigation(
    [
        st.Page(explore.show, title="Explore", icon=":material/tune:", default=True),
        st.Page(about.show, title="About", icon=":material/info:", url_path="about"),
    ],
    position="top",
).run()
