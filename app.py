"""The Prompt Variations explorer in the browser: page settings and navigation."""

import streamlit as st

from variations.ui import about, explore, runs, variant_sets_page

st.set_page_config(
    page_title="Prompt Variations explorer",
    page_icon=":material/tune:",
    layout="wide",
)
st.navigation(
    [
        st.Page(explore.show, title="Explore", icon=":material/tune:", default=True),
        st.Page(
            variant_sets_page.show,
            title="Variant sets",
            icon=":material/playlist_add:",
            url_path="variant-sets",
        ),
        st.Page(
            runs.show, title="Runs", icon=":material/folder_open:", url_path="runs"
        ),
        st.Page(about.show, title="About", icon=":material/info:", url_path="about"),
    ],
    position="top",
).run()
