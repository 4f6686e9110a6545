//! Setup of question 19 (tasks, models, measurements used only by its experiment).
